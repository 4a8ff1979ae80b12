// PushPipeline: sends each step's gradient to the shards through a PsClient
// and puts the parameters its answer brings where the next gradient reads
// them.
//
// Without overlap, Push() returns once the answer is in: the next gradient
// reads the parameters this push brought (plain SGD on a worker's view).
// With overlap (dense models only), Push() waits for the previous step's
// answer, makes its parameters current, starts this step's push and returns
// at once; the next gradient is computed while the push travels, on
// parameters that lack this step's own update (a staleness of one step, on
// top of whatever ASP adds). A step then costs about max(compute, round
// trip) rather than their sum. No thread of its own: PsClient's
// StartPushPull / AwaitPushPull do the waiting.
//
// Local SGD (LocalSgd::push_every H > 1, ASP, dense models, no overlap):
// of every H steps, H - 1 only apply their gradient to the worker's own
// parameters (plain SGD: params -= learning_rate * grad) and add it to a
// sum; the H-th (and the worker's last) pushes the sum of the gradients
// since the last push, computed along the local path, and takes the
// shards' answer as the parameters. With an SGD job whose learning rate is
// the local one, a push moves the shards by exactly the worker's local
// change since its last push.
//
// Each step, once its push is answered (or, local SGD, once applied
// locally: with no transfer), is reported to `on_pushed` on the caller's
// thread. Not thread-safe.
#ifndef DESCENT_WORKER_PUSH_PIPELINE_H_
#define DESCENT_WORKER_PUSH_PIPELINE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "common/ps_client.h"

namespace descent {

// Local SGD for a PushPipeline; push_every 1 pushes every step.
struct LocalSgd {
  int push_every = 1;
  float learning_rate = 0;
};

class PushPipeline {
 public:
  // What a push carries beside the gradient, and what its report says.
  struct Step {
    int64_t step = 0;  // the worker's clock (RequestHeader.step)
    int examples = 0;
    float loss = 0;
    double compute_seconds = 0;
    bool last = false;  // the worker's last push: the shards stop waiting
  };
  // `transfer` is null for a local SGD step that pushed nothing.
  using OnPushed =
      std::function<void(const Step& step, const PsClient::Transfer* transfer)>;

  // `ps` must outlive the pipeline. With local.push_every > 1, overlap
  // must be false and the pushes carry no rows.
  PushPipeline(PsClient* ps, bool overlap, OnPushed on_pushed,
               LocalSgd local = {});

  // Sends `grad` (and rows, as PsClient::PushPull). `grad` and the row
  // gradients may be reused on return; *params (P floats) is where the next
  // gradient reads the parameters. Returns the PsClient's error, of this
  // push or (with overlap) of the previous one.
  absl::Status Push(const Step& step, const float* grad,
                    std::vector<float>* params, const PsClient::Rows* rows);

  // Waits for the push in flight, if any; returns its status. Call before
  // the parameters or the PsClient go away, also after an error.
  absl::Status Finish();

 private:
  absl::Status Await();
  // Push() under local SGD.
  absl::Status PushLocal(const Step& step, const float* grad,
                         std::vector<float>* params);

  PsClient* const ps_;
  const bool overlap_;
  const OnPushed on_pushed_;
  const LocalSgd local_;
  // Local SGD: the sum of the gradients since the last push, its examples
  // and steps.
  std::vector<float> sum_;
  int sum_examples_ = 0;
  int sum_steps_ = 0;
  // Overlap: the parameters the push in flight brings, and its step.
  std::vector<float> incoming_;
  std::optional<Step> in_flight_;
};

}  // namespace descent

#endif  // DESCENT_WORKER_PUSH_PIPELINE_H_
