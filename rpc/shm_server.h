// ShmServer: a parameter server's shared-memory endpoint, beside its gRPC
// port, for workers and the coordinator on the same host
// (rpc/shm_channel.h has the protocol, rpc/shm_shard_transport.h the
// client).
//
// It listens on an abstract Unix socket with a fresh name, which the
// server registers with the coordinator (ShardInfo.local_socket). Each
// connection gets a thread: it takes a hello whose text is the job token
// (within 5 s; a peer of another user, or with a wrong token, is refused
// and counted "unauthenticated"), then serves Pull and PushPull calls one
// at a time through ParameterServerService::ServePull/ServePushPull, so a
// call has the same checks, tarpit, metrics and answers as over gRPC. A
// request that does not parse is answered INVALID_ARGUMENT and counted
// "malformed"; a frame that breaks the protocol is counted "malformed" and
// ends its connection.
#ifndef DESCENT_RPC_SHM_SERVER_H_
#define DESCENT_RPC_SHM_SERVER_H_

#include <atomic>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rpc/parameter_server_service.h"
#include "rpc/shm_channel.h"

namespace descent {

class ShmServer {
 public:
  // Listens on "descent-<pid>-<16 hex digits>". `service` must outlive
  // the server; at most `max_connections` are served at once (more are
  // closed at once, and their clients use gRPC).
  static absl::StatusOr<std::unique_ptr<ShmServer>> Start(
      ParameterServerService* service, int max_connections = 64);
  ~ShmServer();

  // The abstract socket's name, without its leading NUL.
  const std::string& name() const { return name_; }

  // Stops accepting and ends every connection; waits for their threads.
  // A connection in a call waits for its answer first: close the service
  // (which answers held calls) before. Idempotent.
  void Stop();

 private:
  struct Connection {
    std::unique_ptr<ShmChannel> channel;
    std::thread thread;
    std::atomic<bool> ended{false};
  };

  ShmServer(ParameterServerService* service, int listener, std::string name,
            int max_connections);
  void AcceptLoop();
  void Serve(Connection* connection);
  // Joins the threads of connections that have ended.
  void Reap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ParameterServerService* const service_;
  const int listener_;
  const std::string name_;
  const int max_connections_;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::list<Connection> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace descent

#endif  // DESCENT_RPC_SHM_SERVER_H_
