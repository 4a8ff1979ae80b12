#include "roles/epoch_shares.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "glog/logging.h"

namespace descent {

EpochShares::EpochShares(HeartbeatLoop* loop, const v1::JobConfig& config,
                         int64_t num_features, absl::Duration patience)
    : loop_(loop),
      source_(config),
      num_features_(num_features),
      patience_(patience) {}

absl::StatusOr<v1::DataShare> EpochShares::AskUntilReady(int epoch) {
  const absl::Time give_up = absl::Now() + patience_;
  absl::Status last;
  while (true) {
    absl::StatusOr<v1::DataShare> share = loop_->AskShare(epoch);
    // Refused (lost, replaced, a bad request): no retry helps.
    if (absl::IsFailedPrecondition(share.status()) ||
        absl::IsInvalidArgument(share.status())) {
      return share.status();
    }
    if (share.ok() && share->ready()) return share;
    last = share.ok() ? absl::OkStatus() : share.status();
    if (loop_->ended() || absl::Now() > give_up) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::UnavailableError(
      absl::StrCat("the coordinator handed out no share of epoch ", epoch,
                   " within ", absl::FormatDuration(patience_),
                   last.ok() ? "" : absl::StrCat(": ", last.message())));
}

absl::StatusOr<std::optional<EpochData>> EpochShares::Epoch(int epoch) {
  ASSIGN_OR_RETURN(const v1::DataShare share, AskUntilReady(epoch));
  if (share.none()) return std::nullopt;
  Loaded& slot = slots_[epoch % 2];
  const Loaded& other = slots_[1 - epoch % 2];
  if (other.begin == share.begin() && other.end == share.end()) {
    slot = other;
  } else if (slot.begin != share.begin() || slot.end != share.end()) {
    ASSIGN_OR_RETURN(Examples examples,
                     source_.LoadTrainRange({share.begin(), share.end()}));
    if (!examples.is_sparse() && examples.size() > 0 &&
        examples.num_features() != num_features_) {
      return absl::InvalidArgumentError(
          absl::StrCat("data: training examples have ", examples.num_features(),
                       " features but the test set has ", num_features_));
    }
    LOG(INFO) << "epoch " << epoch << ": training examples [" << share.begin()
              << ", " << share.end() << ")";
    slot = {share.begin(), share.end(),
            std::make_shared<Examples>(std::move(examples))};
  }
  EpochData data;
  if (slot.examples->is_sparse()) {
    data.sparse = &slot.examples->sparse();
  } else {
    data.dense = &slot.examples->dense();
  }
  return data;
}

}  // namespace descent
