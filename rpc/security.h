// Who may talk to a descent process, and how: the job token every call
// carries, and TLS.
//
// The token is a secret shared by every process of one job. Clients send
// it as "authorization: Bearer TOKEN" metadata on every call (a channel
// interceptor adds it); the coordinator's and the parameter servers'
// handlers check it before anything else (TokenGuard) and answer a wrong
// or missing one with UNAUTHENTICATED. It comes from the environment
// (DESCENT_JOB_TOKEN) or a file (--token_file), never from a flag's value,
// which any local user could read in the process list.
//
// TLS: a process given a certificate and key serves TLS with them; given a
// CA, it trusts peers signed by it, and its servers require clients to
// present such a certificate (mTLS). grpc.health.v1 and reflection (the
// public schema) answer without a token; every descent method needs it.
//
// Thread-safe: all of it is immutable once built.
#ifndef DESCENT_RPC_SECURITY_H_
#define DESCENT_RPC_SECURITY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"

namespace descent {

// The environment variable holding the job token.
inline constexpr char kTokenEnv[] = "DESCENT_JOB_TOKEN";

struct RpcSecurity {
  // The job token; empty: calls carry none and servers ask for none
  // (only with `insecure`).
  std::string token;
  // PEM: this process's certificate chain and private key, and the CA that
  // signs its peers' certificates.
  std::string cert_pem;
  std::string key_pem;
  std::string ca_pem;
  // Allows plaintext gRPC on a non-loopback address and a job without a
  // token (--insecure).
  bool insecure = false;

  bool tls() const { return !cert_pem.empty() || !ca_pem.empty(); }
};

// Where a process's security comes from (its flags).
struct RpcSecuritySources {
  std::string token_file;  // --token_file; else $DESCENT_JOB_TOKEN
  std::string tls_cert;    // files, PEM
  std::string tls_key;
  std::string tls_ca;
  bool insecure = false;
};

// Reads the token and the PEM files. INVALID_ARGUMENT naming the flag or
// variable: --token_file together with DESCENT_JOB_TOKEN, an empty token,
// a certificate without its key (or the reverse), a file that cannot be
// read or is not PEM; no token without `insecure` (the message says how
// to give one).
absl::StatusOr<RpcSecurity> LoadRpcSecurity(const RpcSecuritySources& sources);

// What a server listens with: TLS when it has a certificate (requiring a
// client certificate signed by ca_pem when it has a CA), else plaintext.
std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(
    const RpcSecurity& security);

// A channel to `address` with `security`'s credentials (TLS when tls()),
// `args`, and the token on every call.
std::shared_ptr<grpc::Channel> SecureChannel(
    const std::string& address, const RpcSecurity& security,
    const grpc::ChannelArguments& args);

// A new random job token (128 bits from the kernel's random source, in
// hex), or UNAVAILABLE if that cannot be read.
absl::StatusOr<std::string> NewJobToken();

// True if `given` equals `expected`, in time that depends only on their
// lengths.
bool SameToken(absl::string_view given, absl::string_view expected);

// A server's check of the token on each call.
class TokenGuard {
 public:
  explicit TokenGuard(std::string token) : token_(std::move(token)) {}

  // OK if the call carries the token (or none is required); else
  // UNAUTHENTICATED, saying nothing of the token.
  grpc::Status Check(const grpc::ServerContextBase& context) const;
  // True if `token` is the one (or none is required); compared in constant
  // time.
  bool Accepts(absl::string_view token) const {
    return token_.empty() || SameToken(token, token_);
  }

 private:
  const std::string token_;
};

}  // namespace descent

#endif  // DESCENT_RPC_SECURITY_H_
