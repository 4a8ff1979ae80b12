#include "rpc/security.h"

#include <cstdlib>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/storage/atomic_file.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/client_interceptor.h"

namespace descent {
namespace {

constexpr char kAuthorization[] = "authorization";
constexpr char kBearer[] = "Bearer ";

// Adds the token to every call's initial metadata.
class TokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(const std::string* header) : header_(header) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({kAuthorization, *header_});
    }
    methods->Proceed();
  }

 private:
  const std::string* const header_;
};

class TokenInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(const std::string& token)
      : header_(absl::StrCat(kBearer, token)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* /*info*/) override {
    return new TokenInterceptor(&header_);
  }

 private:
  const std::string header_;
};

// The PEM file `path` given by `flag`, or INVALID_ARGUMENT naming both.
absl::StatusOr<std::string> ReadPem(const std::string& flag,
                                    const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, "=", path, ": ", text.status().message()));
  }
  if (!absl::StrContains(*text, "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, "=", path, ": not a PEM file (no -----BEGIN line)"));
  }
  return text;
}

}  // namespace

absl::StatusOr<RpcSecurity> LoadRpcSecurity(const RpcSecuritySources& sources) {
  RpcSecurity security;
  security.insecure = sources.insecure;
  const char* env = std::getenv(kTokenEnv);
  const bool from_env = env != nullptr && env[0] != '\0';
  if (!sources.token_file.empty()) {
    if (from_env) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token_file and ", kTokenEnv,
                       " are both set: give the job token one way"));
    }
    absl::StatusOr<std::string> text = ReadWholeFile(sources.token_file);
    if (!text.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--token_file=", sources.token_file, ": ", text.status().message()));
    }
    security.token = std::string(absl::StripAsciiWhitespace(*text));
    if (security.token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--token_file=", sources.token_file, ": the file is empty"));
    }
  } else if (from_env) {
    security.token = std::string(absl::StripAsciiWhitespace(env));
  }
  if (security.token.empty() && !sources.insecure) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no job token: set ", kTokenEnv,
        " (the same secret for every process of the job; descent local makes "
        "one) or pass --token_file FILE, or --insecure to run without one"));
  }
  if (sources.tls_cert.empty() != sources.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key go together: give both or neither");
  }
  if (!sources.tls_cert.empty()) {
    auto cert = ReadPem("--tls_cert", sources.tls_cert);
    if (!cert.ok()) return cert.status();
    auto key = ReadPem("--tls_key", sources.tls_key);
    if (!key.ok()) return key.status();
    security.cert_pem = *std::move(cert);
    security.key_pem = *std::move(key);
  }
  if (!sources.tls_ca.empty()) {
    auto ca = ReadPem("--tls_ca", sources.tls_ca);
    if (!ca.ok()) return ca.status();
    security.ca_pem = *std::move(ca);
  }
  return security;
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(
    const RpcSecurity& security) {
  if (security.cert_pem.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      security.ca_pem.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = security.ca_pem;
  options.pem_key_cert_pairs.push_back({security.key_pem, security.cert_pem});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::Channel> SecureChannel(
    const std::string& address, const RpcSecurity& security,
    const grpc::ChannelArguments& args) {
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (security.tls()) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = security.ca_pem;  // empty: the system's roots
    options.pem_private_key = security.key_pem;
    options.pem_cert_chain = security.cert_pem;
    credentials = grpc::SslCredentials(options);
  }
  if (security.token.empty()) {
    return grpc::CreateCustomChannel(address, credentials, args);
  }
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      std::make_unique<TokenInterceptorFactory>(security.token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      address, credentials, args, std::move(interceptors));
}

absl::StatusOr<std::string> NewJobToken() {
  std::ifstream random("/dev/urandom", std::ios::binary);
  char bytes[16];
  if (!random.read(bytes, sizeof(bytes))) {
    return absl::UnavailableError("cannot read /dev/urandom for a job token");
  }
  return absl::BytesToHexString(absl::string_view(bytes, sizeof(bytes)));
}

bool SameToken(absl::string_view given, absl::string_view expected) {
  // Every byte of `expected` is compared whatever differs, so the time
  // tells nothing of how much of a guess was right.
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? given[i] : 0;
    difference |= g ^ static_cast<unsigned char>(expected[i]);
  }
  return difference == 0;
}

grpc::Status TokenGuard::Check(const grpc::ServerContextBase& context) const {
  if (token_.empty()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find(kAuthorization);
  if (it != metadata.end()) {
    const absl::string_view value(it->second.data(), it->second.size());
    if (absl::StartsWith(value, kBearer) &&
        SameToken(value.substr(sizeof(kBearer) - 1), token_)) {
      return grpc::Status::OK;
    }
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      it == metadata.end()
                          ? "this job needs its token: send \"authorization: "
                            "Bearer TOKEN\" metadata (DESCENT_JOB_TOKEN)"
                          : "wrong job token");
}

}  // namespace descent
