#include "common/exit_codes.h"

#include "gtest/gtest.h"

namespace descent {
namespace {

TEST(ExitCodesTest, CanonicalCodesMapAsDocumented) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), kExitOk);
  EXPECT_EQ(ExitCodeFor(absl::DataLossError("x")), kExitDataError);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("x")), kExitPeerLost);
  EXPECT_EQ(ExitCodeFor(absl::CancelledError("x")), kExitInterrupted);
  EXPECT_EQ(ExitCodeFor(absl::FailedPreconditionError("x")), kExitJobFailed);
  EXPECT_EQ(ExitCodeFor(absl::AbortedError("x")), kExitJobFailed);
}

TEST(ExitCodesTest, DivergenceCarriesItsOwnCode) {
  const absl::Status diverged = DivergedError("training diverged: loss nan");
  EXPECT_EQ(diverged.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(diverged.message(), "training diverged: loss nan");
  EXPECT_EQ(ExitCodeFor(diverged), kExitDiverged);
  EXPECT_EQ(kExitDiverged, 6);
  const absl::Status copy = diverged;  // the code travels with the status
  EXPECT_EQ(ExitCodeFor(copy), kExitDiverged);
}

TEST(ExitCodesTest, AnExplicitCodeWinsOverTheCanonicalOne) {
  // A member told that the job failed exits with the coordinator's code.
  const absl::Status told =
      WithExitCode(absl::AbortedError("the job FAILED"), kExitPeerLost);
  EXPECT_EQ(ExitCodeFor(told), kExitPeerLost);
  EXPECT_EQ(ExplicitExitCode(told), kExitPeerLost);
  EXPECT_EQ(ExplicitExitCode(absl::AbortedError("x")), std::nullopt);
}

}  // namespace
}  // namespace descent
