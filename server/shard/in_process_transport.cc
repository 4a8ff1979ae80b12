#include "server/shard/in_process_transport.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"

namespace descent {

ShardTransportFactory InProcessShardTransport::Factory(
    std::vector<ParameterShard*> shards) {
  return [shards = std::move(shards)](const v1::ShardInfo& info)
             -> absl::StatusOr<std::unique_ptr<ShardTransport>> {
    if (info.shard() < 0 || info.shard() >= static_cast<int>(shards.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "no in-process shard ", info.shard(), " (have ", shards.size(), ")"));
    }
    return std::make_unique<InProcessShardTransport>(shards[info.shard()]);
  };
}

void InProcessShardTransport::Pull(const v1::PullRequest& request,
                                   v1::PullResponse* response,
                                   absl::Duration /*deadline*/, Done done) {
  done(shard_->Pull(request, response));
}

void InProcessShardTransport::PushPull(const v1::PushRequest& request,
                                       v1::PushPullResponse* response,
                                       absl::Duration /*deadline*/, Done done) {
  shard_->PushPull(request, response, std::move(done));
}

void InProcessShardTransport::SecureAggregation(
    const v1::SecureAggregationRequest& request,
    v1::SecureAggregationResponse* response, absl::Duration /*deadline*/,
    Done done) {
  shard_->SecureAggregation(request, response, std::move(done));
}

}  // namespace descent
