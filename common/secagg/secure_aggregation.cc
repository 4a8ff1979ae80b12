#include "common/secagg/secure_aggregation.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "absl/base/call_once.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
// libgfshare.h declares C functions without extern "C".
extern "C" {
#include "libgfshare.h"
}
#include "openssl/evp.h"
#include "openssl/kdf.h"
#include "sodium.h"

namespace descent {
namespace secagg {
namespace {

void FillRandom(unsigned char* buffer, unsigned int size) {
  randombytes_buf(buffer, size);
}

absl::once_flag init_once;
bool init_ok = false;

void EnsureInit() { CHECK(Init().ok()) << "libsodium failed to start"; }

// HKDF-SHA256 (RFC 5869) of `secret` with `info`, no salt, 32 bytes out.
bool Hkdf(const uint8_t* secret, size_t size, absl::string_view info,
          Key* out) {
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr), &EVP_PKEY_CTX_free);
  size_t length = out->size();
  return ctx != nullptr && EVP_PKEY_derive_init(ctx.get()) > 0 &&
         EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) > 0 &&
         EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), secret, static_cast<int>(size)) >
             0 &&
         EVP_PKEY_CTX_add1_hkdf_info(
             ctx.get(), reinterpret_cast<const unsigned char*>(info.data()),
             static_cast<int>(info.size())) > 0 &&
         EVP_PKEY_derive(ctx.get(), out->data(), &length) > 0 &&
         length == out->size();
}

}  // namespace

absl::Status Init() {
  absl::call_once(init_once, [] {
    init_ok = sodium_init() >= 0;
    if (init_ok) gfshare_fill_rand = &FillRandom;
  });
  if (!init_ok) return absl::InternalError("libsodium failed to start");
  return absl::OkStatus();
}

KeyPair NewKeyPair() {
  EnsureInit();
  KeyPair pair;
  randombytes_buf(pair.secret_key.data(), pair.secret_key.size());
  crypto_scalarmult_base(pair.public_key.data(), pair.secret_key.data());
  return pair;
}

Key PublicKeyOf(const Key& secret_key) {
  EnsureInit();
  Key public_key;
  crypto_scalarmult_base(public_key.data(), secret_key.data());
  return public_key;
}

Key RandomSeed() {
  EnsureInit();
  Key seed;
  randombytes_buf(seed.data(), seed.size());
  return seed;
}

absl::StatusOr<Key> AgreeKey(const Key& secret_key, const Key& peer_public_key,
                             absl::string_view purpose, int64_t round,
                             int64_t client, int64_t peer) {
  EnsureInit();
  uint8_t shared[crypto_scalarmult_BYTES];
  if (crypto_scalarmult(shared, secret_key.data(), peer_public_key.data()) !=
      0) {
    return absl::InvalidArgumentError(
        absl::StrCat("client ", peer, "'s public key is a low-order point"));
  }
  const std::string info =
      absl::StrCat("descent secagg v1 ", purpose, " round ", round, " clients ",
                   std::min(client, peer), " ", std::max(client, peer));
  Key key;
  const bool ok = Hkdf(shared, sizeof(shared), info, &key);
  sodium_memzero(shared, sizeof(shared));
  if (!ok) return absl::InternalError("HKDF-SHA256 failed (OpenSSL)");
  return key;
}

void AddMask(const Key& seed, int64_t round, int64_t first, int sign,
             absl::Span<uint32_t> out) {
  EnsureInit();
  constexpr size_t kWordsPerBlock = 64 / 4;
  // The keystream 4 KiB at a time, on the stack: no allocation per mask.
  constexpr size_t kChunkBlocks = 64;
  constexpr size_t kChunkWords = kChunkBlocks * kWordsPerBlock;
  uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
  for (int i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(round >> (8 * i));
  uint8_t bytes[4 * kChunkWords];
  uint32_t words[kChunkWords];
  auto block = static_cast<uint32_t>(first / kWordsPerBlock);
  size_t skip = static_cast<size_t>(first) % kWordsPerBlock;
  for (size_t done = 0; done < out.size();) {
    const size_t n = std::min(kChunkWords, out.size() - done + skip);
    std::memset(bytes, 0, 4 * n);
    crypto_stream_chacha20_ietf_xor_ic(bytes, bytes, 4 * n, nonce, block,
                                       seed.data());
    // Little-endian words, whatever the host.
    ReadWords(absl::string_view(reinterpret_cast<const char*>(bytes) + 4 * skip,
                                4 * (n - skip)),
              absl::MakeSpan(words, n - skip));
    for (size_t i = 0; i < n - skip; ++i) {
      out[done + i] =
          sign > 0 ? out[done + i] + words[i] : out[done + i] - words[i];
    }
    done += n - skip;
    block += kChunkBlocks;
    skip = 0;
  }
}

std::vector<Key> Split(const Key& secret, int n, int t) {
  EnsureInit();
  CHECK(1 <= t && t <= n && n <= kMaxClients) << t << " of " << n;
  std::vector<unsigned char> xs(n);
  for (int i = 0; i < n; ++i) xs[i] = static_cast<unsigned char>(i + 1);
  gfshare_ctx* ctx = gfshare_ctx_init_enc(
      xs.data(), n, static_cast<unsigned char>(t), kKeyBytes);
  CHECK(ctx != nullptr);
  Key copy = secret;
  gfshare_ctx_enc_setsecret(ctx, copy.data());
  std::vector<Key> shares(n);
  for (int i = 0; i < n; ++i) {
    gfshare_ctx_enc_getshare(ctx, static_cast<unsigned char>(i),
                             shares[i].data());
  }
  gfshare_ctx_free(ctx);
  sodium_memzero(copy.data(), copy.size());
  return shares;
}

Key Combine(absl::Span<const uint8_t> xs, absl::Span<const Key> shares) {
  EnsureInit();
  CHECK_EQ(xs.size(), shares.size());
  CHECK(!xs.empty());
  std::vector<unsigned char> numbers(xs.begin(), xs.end());
  gfshare_ctx* ctx = gfshare_ctx_init_dec(
      numbers.data(), static_cast<unsigned int>(numbers.size()), kKeyBytes);
  CHECK(ctx != nullptr);
  for (size_t i = 0; i < shares.size(); ++i) {
    Key share = shares[i];
    gfshare_ctx_dec_giveshare(ctx, static_cast<unsigned char>(i), share.data());
  }
  Key secret;
  gfshare_ctx_dec_extract(ctx, secret.data());
  gfshare_ctx_free(ctx);
  return secret;
}

std::string Seal(const Key& key, absl::string_view plaintext,
                 absl::string_view associated) {
  EnsureInit();
  constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  std::string sealed(
      kNonce + plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES,
      '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  randombytes_buf(out, kNonce);
  unsigned long long length = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out + kNonce, &length,
      reinterpret_cast<const unsigned char*>(plaintext.data()),
      plaintext.size(),
      reinterpret_cast<const unsigned char*>(associated.data()),
      associated.size(), nullptr, out, key.data());
  sealed.resize(kNonce + length);
  return sealed;
}

absl::StatusOr<std::string> Open(const Key& key, absl::string_view sealed,
                                 absl::string_view associated) {
  EnsureInit();
  constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (sealed.size() < kNonce + kTag) {
    return absl::InvalidArgumentError(
        absl::StrCat("sealed share of ", sealed.size(), " bytes, shorter than ",
                     kNonce + kTag));
  }
  std::string plaintext(sealed.size() - kNonce - kTag, '\0');
  const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
  unsigned long long length = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plaintext.data()), &length, nullptr,
          in + kNonce, sealed.size() - kNonce,
          reinterpret_cast<const unsigned char*>(associated.data()),
          associated.size(), in, key.data()) != 0) {
    return absl::InvalidArgumentError(
        "sealed share does not authenticate (wrong key, sender or round)");
  }
  plaintext.resize(length);
  return plaintext;
}

Key KeyOf(absl::string_view bytes) {
  Key key{};
  std::copy_n(bytes.data(), std::min(bytes.size(), key.size()), key.begin());
  return key;
}

std::string BytesOf(const Key& key) {
  return std::string(reinterpret_cast<const char*>(key.data()), key.size());
}

void AppendWords(absl::Span<const uint32_t> words, std::string* out) {
  for (uint32_t w : words) {
    const char bytes[4] = {static_cast<char>(w), static_cast<char>(w >> 8),
                           static_cast<char>(w >> 16),
                           static_cast<char>(w >> 24)};
    out->append(bytes, 4);
  }
}

void ReadWords(absl::string_view bytes, absl::Span<uint32_t> out) {
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  for (size_t i = 0; i < out.size(); ++i, b += 4) {
    out[i] = uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 |
             uint32_t{b[3]} << 24;
  }
}

int Threshold(double fraction, int n) {
  return std::min(n, static_cast<int>(std::floor(fraction * n)) + 1);
}

Quantizer::Quantizer(double range, double weight_bound)
    : range_(range),
      // Each of at most kMaxClients inputs rounds by at most 1/2: keep
      // that much headroom under 2^31 - 1.
      scale_((2147483647.0 - kMaxClients) /
             (range * std::max(1.0, weight_bound))) {}

uint32_t Quantizer::Encode(float value, double weight, int64_t* clamped) const {
  double v = value;
  if (!(v >= -range_ && v <= range_)) {
    ++*clamped;
    v = std::isnan(v) ? 0 : std::clamp(v, -range_, range_);
  }
  const int64_t q = std::llround(weight * v * scale_);
  return static_cast<uint32_t>(q);
}

double Quantizer::Decode(uint32_t sum) const {
  return static_cast<double>(static_cast<int32_t>(sum)) / scale_;
}

}  // namespace secagg
}  // namespace descent
