// What a ParameterShard's answers carry once the gate releases them: the
// slice as of the version each was released at (also while other pushes
// keep changing it, from done callbacks or other threads), and one encoding
// of that slice per release, shared by all of its answers.
#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/shard/parameter_shard.h"
#include "tests/server/shard/shard_testing.h"

namespace descent {
namespace {

// Every push below has gradient 1 in every element, so from zeros the
// slice at version v is -kLearningRate * v everywhere, whichever workers'
// gradients made each update.
class ReleaseTest : public GateFixture {
 protected:
  static constexpr int kWorkers = 3;
  static constexpr int64_t kSteps = 6;

  static float At(int64_t version) { return -kLearningRate * version; }

  // Elements of the answer's slice that are not the slice at the answer's
  // version (all of them if it has none).
  static int64_t WrongElements(const v1::PushPullResponse& response,
                               int64_t size) {
    const std::vector<float> slice = Floats(response.params().values());
    int64_t wrong = size - static_cast<int64_t>(slice.size());
    for (float value : slice) wrong += value != At(response.version());
    return wrong;
  }

  // Worker `worker`'s pushes from `step` to kSteps - 1 (the last marked
  // so), each sent from the done callback of the one before, as a worker's
  // pipeline does, computed on the version that answer carried.
  void Run(int worker, int64_t step, int64_t base) {
    Send(worker, step, base, 1.0f, 1, /*last=*/step + 1 == kSteps, 0,
         [this, worker](Answer* a) {
           const int64_t next = a->request.header().step() + 1;
           if (a->status.ok() && next < kSteps) {
             Run(worker, next, a->response.version());
           }
         });
  }
};

// The consistency models and their parameters the tests below run under.
struct Model {
  v1::Consistency consistency;
  int staleness;
  int backup;
};
constexpr Model kModels[] = {{v1::ASP, 0, 0},
                             {v1::SSP, 0, 0},
                             {v1::SSP, 1, 0},
                             {v1::BSP, 0, 0},
                             {v1::BSP, 0, /*backup=*/1}};

std::string Name(const Model& m) {
  return v1::Consistency_Name(m.consistency) + " staleness " +
         std::to_string(m.staleness) + " backup " + std::to_string(m.backup);
}

// Answers released together are finished one after another, and a done
// callback may push again at once (SSP applies that push on arrival): the
// answers finished after it must still hold their release's slice.
TEST_F(ReleaseTest, AnswersHoldTheSliceOfTheVersionTheyWereReleasedAt) {
  for (const Model& m : kModels) {
    SCOPED_TRACE(Name(m));
    answers_.clear();
    Make(m.consistency, kWorkers, m.staleness, m.backup, /*size=*/64);
    for (int worker = 0; worker < kWorkers; ++worker) Run(worker, 0, 0);
    ASSERT_EQ(answers_.size(), size_t{kWorkers * kSteps});
    for (const auto& a : answers_) {
      const int64_t step = a->request.header().step();
      ASSERT_EQ(a->calls, 1)
          << "worker " << a->request.header().worker_id() << " step " << step;
      EXPECT_TRUE(a->status.ok()) << a->status;
      EXPECT_EQ(WrongElements(a->response, size_), 0)
          << "step " << step << " at version " << a->response.version();
    }
  }
}

TEST_F(ReleaseTest, BspAnswersStepSWithVersionSPlusOne) {
  Make(v1::BSP, kWorkers);
  for (int worker = 0; worker < kWorkers; ++worker) Run(worker, 0, 0);
  ASSERT_EQ(answers_.size(), size_t{kWorkers * kSteps});
  for (const auto& a : answers_) {
    EXPECT_EQ(a->response.version(), a->request.header().step() + 1);
    EXPECT_EQ(WrongElements(a->response, size_), 0);
  }
  EXPECT_EQ(shard_->Snapshot(), std::vector<float>(size_, At(kSteps)));
}

TEST_F(ReleaseTest, AnswersHoldTheSliceOfTheirVersionUnderConcurrentPushes) {
  constexpr int64_t kThreadSteps = 200;
  for (const Model& m : kModels) {
    SCOPED_TRACE(Name(m));
    Make(m.consistency, kWorkers, m.staleness, m.backup, /*size=*/4096);
    std::atomic<int64_t> wrong_answers{0}, unanswered{0};
    auto train = [&](int worker) {
      int64_t base = 0;
      for (int64_t step = 0; step < kThreadSteps; ++step) {
        const v1::PushRequest request =
            Request(worker, step, base, 1.0f, 1, step + 1 == kThreadSteps,
                    /*id=*/worker * kThreadSteps + step + 1);
        v1::PushPullResponse response;
        absl::Status status;
        absl::Notification answered;
        shard_->PushPull(request, &response, [&](absl::Status s) {
          status = s;
          answered.Notify();
        });
        if (!answered.WaitForNotificationWithTimeout(absl::Seconds(30))) {
          shard_->Close();  // a hang fails every thread's push, not the suite
          answered.WaitForNotification();
        }
        if (!status.ok()) {
          ++unanswered;
          return;
        }
        wrong_answers += WrongElements(response, size_) > 0;
        base = response.version();
      }
    };
    std::vector<std::thread> threads;
    for (int worker = 0; worker < kWorkers; ++worker) {
      threads.emplace_back(train, worker);
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(unanswered, 0);
    EXPECT_EQ(wrong_answers, 0);
  }
}

TEST_F(ReleaseTest, BspEncodesTheSliceOncePerStepForAllItsAnswers) {
  constexpr int kMany = 5;
  Make(v1::BSP, kMany);
  for (int64_t step = 0; step < 3; ++step) {
    std::vector<Answer*> answers;
    for (int worker = 0; worker < kMany; ++worker) {
      answers.push_back(Send(worker, step, step, 1.0f));
    }
    EXPECT_EQ(shard_->slice_encodings(), step + 1);  // not kMany per step
    for (Answer* a : answers) {
      ASSERT_EQ(a->calls, 1);
      EXPECT_EQ(a->response.version(), step + 1);
      EXPECT_EQ(a->response.params().offset(), 0u);
      EXPECT_EQ(a->response.params().values(),
                answers[0]->response.params().values());
      EXPECT_EQ(WrongElements(a->response, size_), 0);
    }
  }
}

TEST_F(ReleaseTest, OnlyReleasesWithPushPullAnswersEncodeTheSlice) {
  Make(v1::BSP, 3, 0, /*backup=*/1);
  v1::PushResponse pushed[2];
  // Requests stay valid until answered (ParameterShard::Push).
  std::deque<v1::PushRequest> requests;
  auto push = [&](int worker, int64_t step) {
    requests.push_back(Request(worker, step, step, 1.0f));
    shard_->Push(requests.back(), &pushed[worker], [](absl::Status) {});
  };
  push(0, 0);
  push(1, 0);  // two of three complete step 0
  EXPECT_EQ(pushed[1].version(), 1);
  EXPECT_EQ(shard_->slice_encodings(), 0);  // Push answers take no slice
  push(0, 1);
  Answer* pulled = Send(1, 1, 1, 1.0f);  // one release: a Push, a PushPull
  EXPECT_EQ(pushed[0].version(), 2);
  EXPECT_EQ(pulled->response.version(), 2);
  EXPECT_EQ(WrongElements(pulled->response, size_), 0);
  EXPECT_EQ(shard_->slice_encodings(), 1);
  // Worker 2's late step 0, dropped and answered alone at version 2, is a
  // release of its own: it encodes the slice again.
  Answer* late = Send(2, 0, 0, 1.0f);
  ASSERT_EQ(late->calls, 1);
  EXPECT_EQ(late->response.version(), 2);
  EXPECT_EQ(late->response.params().values(),
            pulled->response.params().values());
  EXPECT_EQ(shard_->slice_encodings(), 2);
}

}  // namespace
}  // namespace descent
