// Secure aggregation (Bonawitz et al. 2017, "Practical Secure Aggregation
// for Privacy-Preserving Machine Learning"): the pieces both sides of the
// protocol use. No home-made cryptography: X25519, ChaCha20 and
// XChaCha20-Poly1305 come from libsodium, HKDF-SHA256 from OpenSSL and
// Shamir's secret sharing (in GF(2^8), byte by byte) from libgfshare, its
// randomness from libsodium.
//
// One round, for the clients U1 that advertised keys (each a fresh cipher
// pair c and mask pair s):
//   - client u draws a self-mask seed b_u, splits b_u and s_u's secret key
//     into |U1| Shamir shares, any t of which rebuild them (x coordinate:
//     1 + the client's position in U1, ascending ids), and sends client v
//     its shares sealed under HKDF(X25519(c_u, c_v)) (ShareKey);
//   - the clients U2 that sent shares each mask their quantized input:
//     y_u = x_u + PRG(b_u) + sum over v in U2, v != u, of
//     sign(u, v) PRG(s_uv), s_uv = HKDF(X25519(s_u, s_v)) (MaskKey), sign +1
//     for u < v, else -1, in Z_(2^32) coordinate by coordinate;
//   - the server sums the y_u of the clients U3 that sent one (the pairwise
//     masks of two of them cancel) and asks U3 for, of each v in U2, its
//     share of b_v if v is in U3 and of s_v's secret key if it dropped,
//     never both; with t of each it removes PRG(b_v) for v in U3 and, for
//     each dropped v and each u in U3, u's pairwise mask with v.
// A mask word is the ChaCha20 keystream of the key at the word's global
// coordinate, so a shard can make the masks of its own slice alone.
//
// Inputs are fixed-point in Z_(2^32): value * scale rounded, two's
// complement (Quantizer), with a scale small enough that no sum of the
// round's weighted inputs wraps, so the unmasked sum is the exact sum of
// the quantized inputs.
#ifndef DESCENT_COMMON_SECAGG_SECURE_AGGREGATION_H_
#define DESCENT_COMMON_SECAGG_SECURE_AGGREGATION_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace descent {

// A federated job's secure aggregation (job.proto SecureAggregationConfig,
// defaults resolved).
struct SecureOptions {
  bool enabled = false;
  double threshold = 0.5;
  double clip_range = 1;
  double dropout_fraction = 0;
};

namespace secagg {

inline constexpr int kKeyBytes = 32;
using Key = std::array<uint8_t, kKeyBytes>;

// Shamir shares are numbered by a byte (libgfshare): at most this many
// clients a round.
inline constexpr int kMaxClients = 255;

// Initializes libsodium and points libgfshare at its randomness. Every
// other function calls it; thread-safe, idempotent. INTERNAL if libsodium
// cannot start (it never returns, by its documentation, once it has).
absl::Status Init();

struct KeyPair {
  Key public_key;
  Key secret_key;
};
// A fresh X25519 key pair.
KeyPair NewKeyPair();
// X25519's public key of `secret_key`.
Key PublicKeyOf(const Key& secret_key);
// 32 random bytes.
Key RandomSeed();

// The key two clients share for `purpose` in `round`: HKDF-SHA256 of the
// X25519 secret of (secret_key, peer_public_key), info naming the purpose,
// the round and the two ids (in ascending order, so both ends derive the
// same key). INVALID_ARGUMENT if the peer's key is a low-order point (the
// shared secret would be all zeros).
absl::StatusOr<Key> AgreeKey(const Key& secret_key, const Key& peer_public_key,
                             absl::string_view purpose, int64_t round,
                             int64_t client, int64_t peer);
inline constexpr char kSharePurpose[] = "share";
inline constexpr char kMaskPurpose[] = "mask";

// Adds sign * PRG(seed)[first + i] to out[i] in Z_(2^32), sign +1 or -1:
// the ChaCha20 (IETF) keystream of `seed`, nonce = round, read as
// little-endian 32-bit words from word `first`.
void AddMask(const Key& seed, int64_t round, int64_t first, int sign,
             absl::Span<uint32_t> out);

// Shamir t-of-n: shares[i] is the share with x coordinate i + 1.
// Requires 1 <= t <= n <= kMaxClients.
std::vector<Key> Split(const Key& secret, int n, int t);
// The secret from shares with x coordinates `xs` (distinct, nonzero); with
// fewer than the threshold the result is unrelated to the secret.
Key Combine(absl::Span<const uint8_t> xs, absl::Span<const Key> shares);

// XChaCha20-Poly1305: a random nonce, then the ciphertext and its tag;
// `associated` is authenticated, not sent.
std::string Seal(const Key& key, absl::string_view plaintext,
                 absl::string_view associated);
// INVALID_ARGUMENT if `sealed` was not made by Seal with this key and
// associated data.
absl::StatusOr<std::string> Open(const Key& key, absl::string_view sealed,
                                 absl::string_view associated);

// On the wire (ps.proto SecureClientMessage): a key as its 32 bytes (a
// shorter string is zero-filled), and words of Z_(2^32) as 4 little-endian
// bytes each.
Key KeyOf(absl::string_view bytes);
std::string BytesOf(const Key& key);
void AppendWords(absl::Span<const uint32_t> words, std::string* out);
// Reads out.size() words from `bytes` (at least 4 out.size() long).
void ReadWords(absl::string_view bytes, absl::Span<uint32_t> out);

// Shares needed of n: floor(fraction n) + 1, at most n.
int Threshold(double fraction, int n);

// Fixed point in Z_(2^32). With weights summing to at most weight_bound
// over a round's clients and values clamped to [-range, range], every
// partial sum of weight * value * scale stays inside int32.
class Quantizer {
 public:
  Quantizer(double range, double weight_bound);
  double scale() const { return scale_; }
  // round(weight * clamp(value) * scale), as a word of Z_(2^32); counts a
  // clamped value in *clamped.
  uint32_t Encode(float value, double weight, int64_t* clamped) const;
  // The sum of encoded words, back to a real sum.
  double Decode(uint32_t sum) const;

 private:
  double range_;
  double scale_;
};

}  // namespace secagg
}  // namespace descent

#endif  // DESCENT_COMMON_SECAGG_SECURE_AGGREGATION_H_
