#include "common/optim/schedule.h"

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using Kind = ScheduleSpec::Kind;

struct Point {
  int64_t step;
  double lr;
};

void ExpectPoints(const ScheduleSpec& spec, const std::vector<Point>& points) {
  absl::StatusOr<LearningRateSchedule> schedule = CreateSchedule(spec);
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  for (const Point& p : points) {
    EXPECT_NEAR(schedule->At(p.step), p.lr, 1e-12) << "step " << p.step;
  }
}

ScheduleSpec Spec(Kind kind, double lr = 1.0) {
  ScheduleSpec spec;
  spec.kind = kind;
  spec.learning_rate = lr;
  return spec;
}

TEST(LearningRateSchedule, Constant) {
  ExpectPoints(Spec(Kind::kConstant, 0.1), {{0, 0.1}, {1, 0.1}, {10000, 0.1}});
  EXPECT_EQ(LearningRateSchedule::Constant(0.3).At(7), 0.3);
}

TEST(LearningRateSchedule, StepDecay) {
  ScheduleSpec spec = Spec(Kind::kStepDecay);
  spec.step_size = 10;
  spec.gamma = 0.5;
  ExpectPoints(spec, {{0, 1}, {9, 1}, {10, 0.5}, {19, 0.5}, {25, 0.25}});
}

TEST(LearningRateSchedule, Exponential) {
  ScheduleSpec spec = Spec(Kind::kExponential, 2.0);
  spec.gamma = 0.9;
  ExpectPoints(spec, {{0, 2}, {1, 1.8}, {3, 2 * 0.729}});
}

TEST(LearningRateSchedule, CosineAnnealsAndStaysAtMin) {
  ScheduleSpec spec = Spec(Kind::kCosine);
  spec.min_learning_rate = 0.1;
  spec.period = 10;
  ExpectPoints(spec, {{0, 1},
                      {5, 0.55},
                      {10, 0.1},
                      {20, 0.1},
                      {1000, 0.1},
                      {3, 0.1 + 0.9 * (1 + std::cos(M_PI * 0.3)) / 2}});
}

TEST(LearningRateSchedule, CosineRestartsWithFixedPeriod) {
  ScheduleSpec spec = Spec(Kind::kCosine);
  spec.min_learning_rate = 0.1;
  spec.period = 10;
  spec.restarts = true;
  ExpectPoints(spec, {{5, 0.55}, {10, 1}, {15, 0.55}, {9990, 1}});
}

TEST(LearningRateSchedule, CosineRestartsWithGrowingPeriods) {
  ScheduleSpec spec = Spec(Kind::kCosine);
  spec.period = 4;  // periods 4, 8, 16: restarts at 4, 12, 28
  spec.restarts = true;
  spec.period_multiplier = 2;
  ExpectPoints(
      spec, {{0, 1}, {2, 0.5}, {4, 1}, {8, 0.5}, {12, 1}, {20, 0.5}, {28, 1}});
}

TEST(LearningRateSchedule, InverseSqrt) {
  ScheduleSpec spec = Spec(Kind::kInverseSqrt);
  spec.inverse_sqrt_steps = 4;
  ExpectPoints(spec, {{0, 1}, {4, 1}, {16, 0.5}, {100, 0.2}});
  ExpectPoints(Spec(Kind::kInverseSqrt), {{0, 1}, {1, 1}, {4, 0.5}});
}

TEST(LearningRateSchedule, WarmupPrecedesAnyKind) {
  ScheduleSpec constant = Spec(Kind::kConstant);
  constant.warmup_steps = 4;
  ExpectPoints(constant, {{0, 0.25}, {1, 0.5}, {3, 1}, {4, 1}, {100, 1}});

  ScheduleSpec step = Spec(Kind::kStepDecay);
  step.warmup_steps = 5;
  step.step_size = 10;
  step.gamma = 0.5;
  ExpectPoints(step, {{0, 0.2}, {4, 1}, {5, 1}, {14, 1}, {15, 0.5}});

  ScheduleSpec cosine = Spec(Kind::kCosine);
  cosine.warmup_steps = 2;
  cosine.period = 4;
  cosine.restarts = true;
  cosine.period_multiplier = 2;
  ExpectPoints(cosine, {{0, 0.5}, {2, 1}, {4, 0.5}, {6, 1}, {10, 0.5}});

  ScheduleSpec rsqrt = Spec(Kind::kInverseSqrt);
  rsqrt.warmup_steps = 4;
  rsqrt.inverse_sqrt_steps = 4;
  ExpectPoints(rsqrt, {{0, 0.25}, {3, 1}, {8, 1}, {20, 0.5}});
}

TEST(CreateSchedule, RejectsBadFieldsNamingThem) {
  struct Case {
    std::string field;
    std::function<void(ScheduleSpec&)> spoil;
  } cases[] = {
      {"learning_rate", [](ScheduleSpec& s) { s.learning_rate = 0; }},
      {"learning_rate", [](ScheduleSpec& s) { s.learning_rate = NAN; }},
      {"warmup_steps", [](ScheduleSpec& s) { s.warmup_steps = -1; }},
      {"step_size",
       [](ScheduleSpec& s) {
         s.kind = Kind::kStepDecay;
         s.step_size = 0;
       }},
      {"gamma",
       [](ScheduleSpec& s) {
         s.kind = Kind::kStepDecay;
         s.gamma = 0;
       }},
      {"gamma",
       [](ScheduleSpec& s) {
         s.kind = Kind::kExponential;
         s.gamma = INFINITY;
       }},
      {"min_learning_rate",
       [](ScheduleSpec& s) {
         s.kind = Kind::kCosine;
         s.min_learning_rate = 2 * s.learning_rate;
       }},
      {"period",
       [](ScheduleSpec& s) {
         s.kind = Kind::kCosine;
         s.period = 0;
       }},
      {"period_multiplier",
       [](ScheduleSpec& s) {
         s.kind = Kind::kCosine;
         s.restarts = true;
         s.period_multiplier = 0.5;
       }},
      {"inverse_sqrt_steps",
       [](ScheduleSpec& s) {
         s.kind = Kind::kInverseSqrt;
         s.inverse_sqrt_steps = 0;
       }},
      {"kind", [](ScheduleSpec& s) { s.kind = static_cast<Kind>(99); }},
  };
  for (const Case& c : cases) {
    ScheduleSpec spec;
    c.spoil(spec);
    absl::Status status = CreateSchedule(spec).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(status.message()), testing::HasSubstr(c.field));
  }
  // The problem names the field once, with the value it got.
  ScheduleSpec cosine;
  cosine.kind = Kind::kCosine;
  cosine.period = 0;
  std::optional<FieldProblem> problem = FindProblem(cosine);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->field, "period");
  EXPECT_EQ(problem->problem, "must be > 0, got 0");
  EXPECT_EQ(CreateSchedule(cosine).status().message(),
            "period: must be > 0, got 0");
  // Fields of other kinds are not read.
  ScheduleSpec constant;
  constant.step_size = 0;
  constant.period = -5;
  EXPECT_TRUE(CreateSchedule(constant).ok());
}

}  // namespace
}  // namespace descent
