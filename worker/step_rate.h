// StepRate: a worker's training speed over its last few steps, for the
// descent_worker_steps_per_second and descent_worker_examples_per_second
// gauges. The rate is taken over the last `window` steps (by count, not by
// time), so it follows changes within a few steps whatever a step costs;
// for rates over fixed time spans, Prometheus's rate() over the _total
// counters is the better tool.
//
// Time is passed in, so tests need no clock. Not thread-safe: one training
// loop records into it.
#ifndef DESCENT_WORKER_STEP_RATE_H_
#define DESCENT_WORKER_STEP_RATE_H_

#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace descent {

class StepRate {
 public:
  // Steps the rates are taken over (>= 2).
  static constexpr int kWindow = 20;

  explicit StepRate(int window = kWindow);

  // Records a step over `examples` examples that finished at `end` (not
  // before the previous step's end).
  void Add(absl::Time end, int64_t examples);

  // Over the recorded steps still in the window: the steps after the
  // oldest one, and their examples, divided by the time from the oldest's
  // end to the newest's. 0 until two steps with distinct ends.
  double steps_per_second() const;
  double examples_per_second() const;

 private:
  struct Step {
    absl::Time end;
    int64_t examples = 0;
  };

  // Seconds from the oldest step's end to the newest's; 0 if none.
  double SpanSeconds() const;

  std::vector<Step> steps_;  // a ring of the last `window` steps
  size_t next_ = 0;          // where the next step goes
  size_t count_ = 0;         // steps in the ring
};

}  // namespace descent

#endif  // DESCENT_WORKER_STEP_RATE_H_
