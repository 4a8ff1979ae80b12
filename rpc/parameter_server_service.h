// The gRPC face of a ParameterShard: the descent.v1.ParameterServer
// service on gRPC's callback API. Requests are handed to the shard as they
// are; a push that waits at the consistency gate holds no thread, since the
// reactor finishes from the shard's completion callback. Counts traffic and
// timings in ServerMetrics.
//
// The service starts serving before its shard exists (the shard's range is
// known only once the server has registered, with the address it serves
// on); until Attach() every call is answered UNAVAILABLE, which clients
// retry (rejection reason "not_registered"). Its grpc.health.v1 status
// (ReportHealth) tells the same: NOT_SERVING until Attach, SERVING while
// the shard takes work, NOT_SERVING again from Close.
//
// A call refused for what it carries or who sends it (INVALID_ARGUMENT,
// FAILED_PRECONDITION, OUT_OF_RANGE, PERMISSION_DENIED, UNAUTHENTICATED:
// a malformed request, a wrong job, an unknown or lost worker, a wrong
// token) is counted at once but answered only after the tarpit's delay
// (refusal_tarpit.h; 500 ms by default), so that a client sending such
// calls back to back cannot keep the shard busy refusing them. Past the
// tarpit's bounds, and from Close, refusals are answered at once. Refusals
// a well-formed worker may meet and retry (UNAVAILABLE, RESOURCE_EXHAUSTED)
// and every accepted call are never delayed.
//
// Pull and PushPull take and answer raw bytes: the service parses the
// request itself (a request that does not parse is INVALID_ARGUMENT and
// counted "malformed", as gRPC's generated handlers do for the other
// methods through server_options.h) and sends the answer's parameters
// from the answer itself rather than from a copy (rpc/aliased_bytes.h).
//
// ServePull and ServePushPull are the same two calls for another carrier
// (the shared-memory connections of rpc/shm_server.h), which parses and
// answers itself: the same checks, tarpit, metrics and shard calls.
//
// Thread-safe; the shard and metrics must outlive it.
#ifndef DESCENT_RPC_PARAMETER_SERVER_SERVICE_H_
#define DESCENT_RPC_PARAMETER_SERVER_SERVICE_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "descent/v1/ps.grpc.pb.h"
#include "rpc/refusal_tarpit.h"
#include "rpc/security.h"
#include "rpc/server_options.h"
#include "server/shard/parameter_shard.h"

namespace descent {

class ParameterServerService final
    : public v1::ParameterServer::WithRawCallbackMethod_Pull<
          v1::ParameterServer::WithRawCallbackMethod_PushPull<
              v1::ParameterServer::CallbackService>> {
 public:
  // Every call must carry `token` (rpc/security.h; empty: none needed).
  // Refused calls are held as `tarpit` says.
  ParameterServerService(ServerMetrics* metrics, std::string token,
                         RefusalTarpitOptions tarpit = {})
      : metrics_(metrics), guard_(std::move(token)), tarpit_(tarpit) {}
  // Waits for the checkpoints being written; answers the refusals still
  // held.
  ~ParameterServerService() override;

  // Starts answering calls from `shard` (index `index` of the job), whose
  // checkpoints go under `checkpoint_root` (empty: Checkpoint is refused).
  // Call at most once.
  void Attach(ParameterShard* shard, int index = 0,
              std::string checkpoint_root = "");

  // The options of the server that serves this service: messages up to
  // kMaxMessageBytes (a dense slice of 64M floats), at most
  // kServerMemoryQuotaBytes of gRPC memory for requests in flight,
  // NOT_SERVING at start, and calls refused before a handler (malformed,
  // unknown method) counted in the rejected metric.
  RpcServerOptions ServerOptions() const;
  // From now on reports its state in `server`'s grpc.health.v1 (the server
  // this service is registered with): SERVING once attached.
  void ReportHealth(grpc::Server* server);
  // Stops taking work (the job has ended): health NOT_SERVING, refusals in
  // the tarpit answered at once, then the shard is closed (held answers
  // UNAVAILABLE, later pushes refused).
  void Close();

  // Ends a call, exactly once, perhaps on another thread (the tarpit's, or
  // the one that releases a held push): OK with the answer filled in, or
  // the refusal.
  using Finish = std::function<void(const grpc::Status&)>;
  // A Pull or PushPull whose sender was checked as `allowed` says (OK, or
  // the UNAUTHENTICATED refusal to give it): runs it on the shard and ends
  // it through `finish`. `request` and `response` must outlive `finish`.
  void ServePull(const grpc::Status& allowed, const v1::PullRequest& request,
                 v1::PullResponse* response, Finish finish);
  void ServePushPull(const grpc::Status& allowed,
                     const v1::PushRequest& request,
                     v1::PushPullResponse* response, Finish finish);
  // Whether `token` is this job's (for carriers that authenticate once per
  // connection).
  bool AcceptsToken(absl::string_view token) const;
  // Counts a call refused before it reached the shard (e.g. "malformed").
  void CountRejected(const char* reason);

  // Request and response: encoded v1::PullRequest and v1::PullResponse.
  grpc::ServerUnaryReactor* Pull(grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Push(grpc::CallbackServerContext* context,
                                 const v1::PushRequest* request,
                                 v1::PushResponse* response) override;
  // Request and response: encoded v1::PushRequest and v1::PushPullResponse.
  grpc::ServerUnaryReactor* PushPull(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  // Held by the shard's secure aggregation barrier, no thread waiting.
  grpc::ServerUnaryReactor* SecureAggregation(
      grpc::CallbackServerContext* context,
      const v1::SecureAggregationRequest* request,
      v1::SecureAggregationResponse* response) override;
  // Captures the shard's state (ParameterShard::Capture) and writes it on a
  // thread of its own (shard_checkpoint.h), so that no push waits for the
  // disk.
  grpc::ServerUnaryReactor* Checkpoint(
      grpc::CallbackServerContext* context,
      const v1::CheckpointRequest* request,
      v1::CheckpointResponse* response) override;

 private:
  static Finish FinishOf(grpc::ServerUnaryReactor* reactor);
  // The attached shard, or null after refusing the call with `allowed`
  // (not OK: without the job's token; counted, held in the tarpit) or
  // UNAVAILABLE (not attached).
  ParameterShard* ShardOrRefuse(const grpc::Status& allowed,
                                const google::protobuf::MessageLite& request,
                                const Finish& finish);
  // True if `bytes` parses as `request`; else finishes the call
  // INVALID_ARGUMENT naming `method` and counts it "malformed".
  bool ParseOrRefuse(const grpc::ByteBuffer* bytes, const char* method,
                     google::protobuf::MessageLite* request,
                     grpc::ServerUnaryReactor* reactor);
  // Finishes the call with `refused` (not OK) now, or after the tarpit's
  // delay if the code is one the tarpit holds and it has room.
  void FinishRefused(const Finish& finish, const grpc::Status& refused,
                     const google::protobuf::MessageLite& request);
  // Records a finished push in the metrics and finishes the call.
  void FinishPush(const ParameterShard* shard, const Finish& finish,
                  const absl::Status& status, const v1::PushRequest& request,
                  int64_t pulled_bytes, int64_t version, absl::Time start);

  std::atomic<ParameterShard*> shard_{nullptr};
  std::atomic<grpc::Server*> health_{nullptr};
  // Set before shard_ (Attach).
  int index_ = 0;
  std::string checkpoint_root_;
  absl::Mutex writers_mu_;
  std::vector<std::thread> writers_ ABSL_GUARDED_BY(writers_mu_);
  ServerMetrics* const metrics_;
  const TokenGuard guard_;
  RefusalTarpit tarpit_;
};

}  // namespace descent

#endif  // DESCENT_RPC_PARAMETER_SERVER_SERVICE_H_
