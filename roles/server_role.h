// `descent server --shard=i`: one parameter-server shard. It serves the
// ParameterServer service, registers with the coordinator, which assigns its
// slice of the parameters and hands it the job's config, then serves pushes
// and pulls until the coordinator reports that the job has ended.
#ifndef DESCENT_ROLES_SERVER_ROLE_H_
#define DESCENT_ROLES_SERVER_ROLE_H_

#include <string>

#include "rpc/security.h"

namespace descent {

struct ServerRoleOptions {
  std::string coordinator;  // host:port of the job's coordinator
  int shard = 0;
  std::string listen = "127.0.0.1:0";
  // The host:port workers should dial, if not the listen address (e.g. a
  // container's service name when listening on 0.0.0.0). May give port 0
  // to mean the port actually bound.
  std::string advertise_address;
  std::string metrics_listen = "127.0.0.1:0";
  // TLS and the job token (rpc/security.h), served and sent.
  RpcSecurity security;
};

// Returns the process exit code (common/exit_codes.h).
int RunServer(const ServerRoleOptions& options);

}  // namespace descent

#endif  // DESCENT_ROLES_SERVER_ROLE_H_
