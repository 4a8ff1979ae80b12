#include "cli/child_process.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

std::unique_ptr<ChildProcess> StartOrDie(std::vector<std::string> argv,
                                         std::string stdout_path = "",
                                         std::string stderr_path = "") {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start({"test", std::move(argv), std::move(stdout_path),
                           std::move(stderr_path)});
  EXPECT_TRUE(child.ok()) << child.status();
  return child.ok() ? std::move(*child) : nullptr;
}

std::unique_ptr<ChildProcess> StartShell(const std::string& script) {
  return StartOrDie({"/bin/sh", "-c", script});
}

// Polls `done` until it holds or 10 s pass.
template <typename Done>
bool Eventually(Done done) {
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// A scratch path private to this test process, so parallel runs of the
// binary do not share files.
std::string TempPath(const std::string& name) {
  return absl::StrCat(testing::TempDir(), "/child_process_test_", getpid(), "_",
                      name);
}

// True once `pid` names no live process: gone, or a zombie left for init.
bool GoneOrZombie(pid_t pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH;
  std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || stat.substr(paren + 2, 1) == "Z";
}

// Waits until `pid` has exec'd `command`, so that what it set up before
// the exec (e.g. `trap "" TERM`) is in force.
bool WaitForExec(pid_t pid, const std::string& command) {
  std::string comm_path = absl::StrCat("/proc/", pid, "/comm");
  return Eventually([&] { return ReadFile(comm_path) == command + "\n"; });
}

constexpr char kIgnoreTermScript[] = "trap '' TERM; exec sleep 60";

TEST(ChildProcess, PropagatesExitCode) {
  auto child = StartShell("exit 3");
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(Eventually([&] { return child->Poll(); }));
  EXPECT_TRUE(child->exited());
  EXPECT_EQ(child->exit_code(), 3);
  EXPECT_EQ(child->DescribeExit(), "exited with code 3");
}

TEST(ChildProcess, ReportsKillingSignalAsShellCode) {
  auto child = StartShell("kill -9 $$");
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(Eventually([&] { return child->Poll(); }));
  EXPECT_EQ(child->exit_code(), 137);
  EXPECT_EQ(child->DescribeExit(), "killed by signal 9 (Killed)");
}

TEST(ChildProcess, RunningChildHasNoExitCode) {
  auto child = StartOrDie({"/bin/sleep", "60"});
  ASSERT_NE(child, nullptr);
  EXPECT_FALSE(child->Poll());
  EXPECT_FALSE(child->exited());
  EXPECT_EQ(child->exit_code(), -1);
  EXPECT_EQ(child->DescribeExit(), "is running");
}

TEST(ChildProcess, AppendsOutputToFiles) {
  std::string out = TempPath("stdout.txt");
  std::string err = TempPath("stderr.txt");
  std::ofstream(out) << "earlier\n";
  std::remove(err.c_str());
  auto child =
      StartOrDie({"/bin/sh", "-c", "echo hello; echo oops >&2"}, out, err);
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(Eventually([&] { return child->Poll(); }));
  EXPECT_EQ(child->exit_code(), 0);
  EXPECT_EQ(ReadFile(out), "earlier\nhello\n");
  EXPECT_EQ(ReadFile(err), "oops\n");
  std::remove(out.c_str());
  std::remove(err.c_str());
}

TEST(ChildProcess, ExecFailureIsStatusNamingProgram) {
  const std::string program = "/nonexistent/descent-no-such-program";
  auto child = ChildProcess::Start({"server/1", {program}, "", ""});
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(child.status().message().find(program), absl::string_view::npos)
      << child.status();
  EXPECT_NE(child.status().message().find("server/1"), absl::string_view::npos);
}

TEST(ChildProcess, UnopenableOutputIsStatus) {
  auto child =
      ChildProcess::Start({"w", {"/bin/true"}, "/nonexistent/dir/out.txt", ""});
  ASSERT_FALSE(child.ok());
  EXPECT_NE(child.status().message().find("/nonexistent/dir/out.txt"),
            absl::string_view::npos)
      << child.status();
}

TEST(ChildProcess, EmptyArgvIsInvalidArgument) {
  auto child = ChildProcess::Start({"w", {}, "", ""});
  EXPECT_EQ(child.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ChildProcess, RunsInItsOwnProcessGroup) {
  auto child = StartOrDie({"/bin/sleep", "60"});
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(getpgid(child->pid()), child->pid());
  EXPECT_NE(getpgid(child->pid()), getpgrp());
}

TEST(ChildProcess, TerminateStopsAndReapsQuickly) {
  auto child = StartOrDie({"/bin/sleep", "60"});
  ASSERT_NE(child, nullptr);
  absl::Time start = absl::Now();
  child->Terminate(absl::Seconds(5));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(child->exited());
  EXPECT_EQ(child->exit_code(), 128 + SIGTERM);
  EXPECT_EQ(kill(child->pid(), 0), -1);
  EXPECT_EQ(errno, ESRCH);
  child->Terminate(absl::Seconds(5));  // idempotent
  EXPECT_EQ(child->exit_code(), 128 + SIGTERM);
}

TEST(ChildProcess, TerminateEscalatesToSigkill) {
  auto child = StartShell(kIgnoreTermScript);
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(WaitForExec(child->pid(), "sleep"));
  absl::Time start = absl::Now();
  child->Terminate(absl::Milliseconds(200));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  EXPECT_EQ(child->exit_code(), 128 + SIGKILL);
  EXPECT_EQ(kill(child->pid(), 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(ChildProcess, TerminateReachesProcessesInChildsGroup) {
  std::string pid_file = TempPath("grandchild_pid");
  std::remove(pid_file.c_str());
  auto child =
      StartShell(absl::StrCat("sleep 60 & echo $! > ", pid_file, "; wait"));
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(Eventually([&] { return !ReadFile(pid_file).empty(); }));
  pid_t grandchild = std::stoi(ReadFile(pid_file));
  child->Terminate(absl::Seconds(5));
  EXPECT_TRUE(Eventually([&] { return GoneOrZombie(grandchild); }));
  std::remove(pid_file.c_str());
}

TEST(ChildProcess, SignalReachesChild) {
  auto child = StartOrDie({"/bin/sleep", "60"});
  ASSERT_NE(child, nullptr);
  child->Signal(SIGKILL);
  ASSERT_TRUE(Eventually([&] { return child->Poll(); }));
  EXPECT_EQ(child->exit_code(), 137);
  child->Signal(SIGKILL);  // no-op once exited
}

TEST(ChildProcess, DestructorTerminatesRunningChild) {
  auto child = StartShell(kIgnoreTermScript);
  ASSERT_NE(child, nullptr);
  pid_t pid = child->pid();
  child.reset();
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

// The launcher is killed without any chance to clean up: its children
// must die anyway (PR_SET_PDEATHSIG).
TEST(ChildProcess, ChildDiesWithLauncher) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t launcher = fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    auto child = ChildProcess::Start({"c", {"/bin/sleep", "60"}, "", ""});
    pid_t pid = child.ok() ? (*child)->pid() : -1;
    ssize_t unused = write(fds[1], &pid, sizeof(pid));
    (void)unused;
    pause();  // until the test kills us
    _exit(0);
  }
  close(fds[1]);
  pid_t orphan = -1;
  ASSERT_EQ(read(fds[0], &orphan, sizeof(orphan)),
            static_cast<ssize_t>(sizeof(orphan)));
  close(fds[0]);
  ASSERT_GT(orphan, 0);
  kill(launcher, SIGKILL);
  ASSERT_EQ(waitpid(launcher, nullptr, 0), launcher);
  EXPECT_TRUE(Eventually([&] { return GoneOrZombie(orphan); }));
}

TEST(TerminateAll, StopsEveryChildWithinGrace) {
  std::vector<std::unique_ptr<ChildProcess>> children;
  children.push_back(StartOrDie({"/bin/sleep", "60"}));
  children.push_back(StartShell(kIgnoreTermScript));
  children.push_back(StartShell(kIgnoreTermScript));
  children.push_back(StartShell("exit 4"));
  children.push_back(nullptr);
  for (int i = 0; i < 4; ++i) ASSERT_NE(children[i], nullptr);
  ASSERT_TRUE(WaitForExec(children[1]->pid(), "sleep"));
  ASSERT_TRUE(WaitForExec(children[2]->pid(), "sleep"));
  ASSERT_TRUE(Eventually([&] { return children[3]->Poll(); }));

  absl::Time start = absl::Now();
  TerminateAll(children, absl::Milliseconds(300));
  absl::Duration took = absl::Now() - start;
  // The grace period runs once for all children, not once per child.
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(2));
  EXPECT_EQ(children[0]->exit_code(), 128 + SIGTERM);
  EXPECT_EQ(children[1]->exit_code(), 128 + SIGKILL);
  EXPECT_EQ(children[2]->exit_code(), 128 + SIGKILL);
  EXPECT_EQ(children[3]->exit_code(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(kill(children[i]->pid(), 0), -1);
    EXPECT_EQ(errno, ESRCH);
  }
}

TEST(TerminateAll, ReturnsAtOnceWhenChildrenObeySigterm) {
  std::vector<std::unique_ptr<ChildProcess>> children;
  for (int i = 0; i < 3; ++i)
    children.push_back(StartOrDie({"/bin/sleep", "60"}));
  absl::Time start = absl::Now();
  TerminateAll(children, absl::Seconds(10));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  for (const auto& child : children) {
    ASSERT_NE(child, nullptr);
    EXPECT_EQ(child->exit_code(), 128 + SIGTERM);
  }
}

}  // namespace
}  // namespace descent
