// The limits and accounting a descent gRPC server is built with
// (StartRpcServer, rpc.h): message sizes, the memory its gRPC core may
// spend on calls in flight, and a count of the calls refused before any
// handler saw them.
//
// Why both a message limit and a memory quota: the message limit refuses
// one request too large (RESOURCE_EXHAUSTED, before it is parsed, nothing
// changed), but N concurrent requests just under it still cost N times
// it. grpc::ResourceQuota bounds what the server's gRPC core allocates for
// reading requests in flight, whatever their number: when it is spent,
// gRPC stops reading from the sockets (senders wait, up to their
// deadlines) instead of allocating more.
#ifndef DESCENT_RPC_SERVER_OPTIONS_H_
#define DESCENT_RPC_SERVER_OPTIONS_H_

#include <cstddef>
#include <functional>

#include "grpcpp/grpcpp.h"

namespace descent {

struct RpcServerOptions {
  // Largest request and response, bytes. A larger request is answered
  // RESOURCE_EXHAUSTED by gRPC before any handler runs.
  int max_receive_message_bytes = 4 << 20;
  int max_send_message_bytes = 4 << 20;
  // Bytes the server's gRPC core may spend (grpc::ResourceQuota), requests
  // in flight included; 0: no quota.
  size_t memory_quota_bytes = 0;
  // Calls in flight per connection (HTTP/2 streams); 0: gRPC's default.
  int max_concurrent_streams = 0;
  // Whether grpc.health.v1 reports SERVING from the start; false: NOT_SERVING
  // until the role says otherwise (SetServing, rpc.h).
  bool serving_at_start = true;
  // Called, on a gRPC thread, for every call refused before a handler saw
  // it, with its reason: "malformed" (a request that does not parse as
  // its method's message; answered INVALID_ARGUMENT) or "unknown_method"
  // (answered UNIMPLEMENTED). Must be thread-safe. Null: not counted.
  std::function<void(const char* reason)> on_rejected;
};

// Applies `options` to `builder`: limits, quota, and (if on_rejected is
// set) the interceptor and the generic service that count refusals.
// `keep` receives what must outlive the server (the generic service).
void ApplyServerOptions(const RpcServerOptions& options,
                        grpc::ServerBuilder* builder,
                        std::shared_ptr<void>* keep);

}  // namespace descent

#endif  // DESCENT_RPC_SERVER_OPTIONS_H_
