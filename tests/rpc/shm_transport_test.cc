// The shared-memory transport: ShmChannel's framing (round trips, region
// growth, deadlines, and frames a hostile peer could send), and ShmServer
// with ShmShardTransport in front of a real shard and service.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/metrics.h"
#include "common/ps_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rpc/grpc_shard_transport.h"
#include "rpc/parameter_server_service.h"
#include "rpc/rpc.h"
#include "rpc/shm_channel.h"
#include "rpc/shm_server.h"
#include "rpc/shm_shard_transport.h"
#include "server/shard/parameter_shard.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kMagic = 0x31485344;

int OpenFds() {
  int count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (::readdir(dir) != nullptr) ++count;
  ::closedir(dir);
  return count;
}

// A sealed memfd holding `bytes`, as a well-behaved peer makes it (or not
// sealed, or not a memfd at all: a pipe's end).
enum class RegionKind { kSealed, kUnsealed, kPipe };
int MakeRegion(const std::string& bytes, RegionKind kind) {
  if (kind == RegionKind::kPipe) {
    int ends[2];
    EXPECT_EQ(::pipe(ends), 0);
    ::close(ends[1]);
    return ends[0];
  }
  const int fd = ::memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  EXPECT_EQ(::ftruncate(fd, 64 << 10), 0);
  EXPECT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0),
            static_cast<ssize_t>(bytes.size()));
  if (kind == RegionKind::kSealed) {
    EXPECT_EQ(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
  }
  return fd;
}

// Sends one frame by hand: a header (as given, lies included), `text`,
// and `fd` when not -1.
void SendRaw(int socket, uint32_t magic, uint32_t kind, uint64_t payload,
             uint32_t declared_text, const std::string& text, int fd = -1,
             size_t header_bytes = 24) {
  struct {
    uint32_t magic, kind;
    uint64_t payload;
    int32_t code;
    uint32_t text;
  } header{magic, kind, payload, 0, declared_text};
  static_assert(sizeof(header) == 24);
  std::string frame(reinterpret_cast<const char*>(&header), header_bytes);
  frame += text;
  iovec part{frame.data(), frame.size()};
  msghdr msg{};
  msg.msg_iov = &part;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  }
  ASSERT_EQ(::sendmsg(socket, &msg, MSG_NOSIGNAL),
            static_cast<ssize_t>(frame.size()));
  if (fd >= 0) ::close(fd);
}

class ShmChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int ends[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends), 0);
    a_ = std::make_unique<ShmChannel>(ends[0], 8 << 20);
    b_ = std::make_unique<ShmChannel>(ends[1], 8 << 20);
    raw_ = ends[0];  // a_'s socket, for frames written by hand
  }

  absl::StatusOr<ShmFrame> ReceiveOnB() {
    return b_->Receive(absl::Now() + absl::Seconds(5));
  }

  std::unique_ptr<ShmChannel> a_, b_;
  int raw_ = -1;
};

v1::PushRequest Push(size_t floats, float value) {
  v1::PushRequest request;
  request.mutable_header()->set_job_id("job-1");
  request.mutable_header()->set_worker_id(3);
  std::string bytes(floats * sizeof(float), '\0');
  for (size_t i = 0; i < floats; ++i) {
    const float v = value + static_cast<float>(i);
    std::memcpy(bytes.data() + i * sizeof(float), &v, sizeof(float));
  }
  request.mutable_gradient()->set_values(bytes);
  return request;
}

TEST_F(ShmChannelTest, MessagesOfAnySizeArriveWholeAsTheRegionGrows) {
  // 40 bytes, 4 MB (a new, larger region travels with it), then 40 again
  // (the large region stays).
  for (size_t floats : {10, 1 << 20, 10}) {
    const v1::PushRequest sent = Push(floats, 0.5f * floats);
    ASSERT_TRUE(
        a_->Send(ShmKind::kPushPull, &sent, absl::StatusCode::kOk, "some text")
            .ok());
    absl::StatusOr<ShmFrame> frame = ReceiveOnB();
    ASSERT_TRUE(frame.ok()) << frame.status();
    EXPECT_EQ(frame->kind, ShmKind::kPushPull);
    EXPECT_EQ(frame->text, "some text");
    v1::PushRequest got;
    ASSERT_TRUE(got.ParseFromArray(frame->payload.data(),
                                   static_cast<int>(frame->payload.size())));
    EXPECT_EQ(got.SerializeAsString(), sent.SerializeAsString()) << floats;
  }
  // And back the other way, with a status and no message.
  ASSERT_TRUE(b_->Send(ShmKind::kAnswer, nullptr,
                       absl::StatusCode::kFailedPrecondition, "not now")
                  .ok());
  absl::StatusOr<ShmFrame> answer = a_->Receive(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->code, absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(answer->text, "not now");
  EXPECT_TRUE(answer->payload.empty());
}

TEST_F(ShmChannelTest, NothingByTheDeadlineIsDeadlineExceeded) {
  const absl::Time start = absl::Now();
  absl::StatusOr<ShmFrame> frame =
      b_->Receive(absl::Now() + absl::Milliseconds(100));
  EXPECT_TRUE(absl::IsDeadlineExceeded(frame.status())) << frame.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
}

TEST_F(ShmChannelTest, AClosedPeerOrShutdownIsUnavailable) {
  std::thread waiter([&] {
    absl::StatusOr<ShmFrame> frame = b_->Receive(absl::InfiniteFuture());
    EXPECT_TRUE(absl::IsUnavailable(frame.status())) << frame.status();
  });
  absl::SleepFor(absl::Milliseconds(50));
  b_->Shutdown();  // wakes the waiter
  waiter.join();
  a_.reset();
  absl::StatusOr<ShmFrame> frame = ReceiveOnB();
  EXPECT_TRUE(absl::IsUnavailable(frame.status())) << frame.status();
}

TEST_F(ShmChannelTest, AMessageOverTheLimitIsRefusedBeforeAnythingIsSent) {
  const v1::PushRequest huge = Push(3 << 20, 1);  // 12 MB > 8 MB
  absl::Status sent = a_->Send(ShmKind::kPushPull, &huge);
  EXPECT_TRUE(absl::IsResourceExhausted(sent)) << sent;
  absl::StatusOr<ShmFrame> frame =
      b_->Receive(absl::Now() + absl::Milliseconds(50));
  EXPECT_TRUE(absl::IsDeadlineExceeded(frame.status())) << frame.status();
}

TEST_F(ShmChannelTest, FramesThatBreakTheProtocolAreRefusedAndLeakNothing) {
  const std::string payload = Push(4, 1).SerializeAsString();
  struct Case {
    const char* name;
    std::function<void()> send;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"short header", [&] { SendRaw(raw_, kMagic, 3, 0, 0, "", -1, 10); },
       "short header"},
      {"bad magic", [&] { SendRaw(raw_, 0xdeadbeef, 3, 0, 0, ""); },
       "bad magic"},
      {"unknown kind", [&] { SendRaw(raw_, kMagic, 99, 0, 0, ""); },
       "unknown kind"},
      {"text length", [&] { SendRaw(raw_, kMagic, 3, 0, 100, "abc"); },
       "text's length"},
      {"payload without region",
       [&] { SendRaw(raw_, kMagic, 3, payload.size(), 0, ""); },
       "larger than the region"},
      {"payload past region",
       [&] {
         SendRaw(raw_, kMagic, 3, 1 << 20, 0, "",
                 MakeRegion(payload, RegionKind::kSealed));
       },
       "larger than the region"},
      {"payload over limit",
       [&] { SendRaw(raw_, kMagic, 3, uint64_t{1} << 40, 0, ""); },
       "over the limit"},
      {"unsealed region",
       [&] {
         SendRaw(raw_, kMagic, 3, payload.size(), 0, "",
                 MakeRegion(payload, RegionKind::kUnsealed));
       },
       "not a memfd sealed"},
      {"a pipe for a region",
       [&] {
         SendRaw(raw_, kMagic, 3, payload.size(), 0, "",
                 MakeRegion(payload, RegionKind::kPipe));
       },
       "not a memfd sealed"},
  };
  const int fds_before = OpenFds();
  for (const Case& c : cases) {
    c.send();
    absl::StatusOr<ShmFrame> frame = ReceiveOnB();
    EXPECT_TRUE(absl::IsInvalidArgument(frame.status()))
        << c.name << ": " << frame.status();
    EXPECT_THAT(frame.status().message(), HasSubstr(c.why)) << c.name;
  }
  EXPECT_EQ(OpenFds(), fds_before);
  // A well-formed frame by hand, with its sealed region, is taken.
  SendRaw(raw_, kMagic, 3, payload.size(), 0, "",
          MakeRegion(payload, RegionKind::kSealed));
  absl::StatusOr<ShmFrame> frame = ReceiveOnB();
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_EQ(std::string(frame->payload), payload);
}

constexpr int64_t kParams = 10;
constexpr char kToken[] = "job-token";

// A transport that must not be used: every call fails, and is counted.
class NoFallback final : public ShardTransport {
 public:
  explicit NoFallback(std::atomic<int>* calls) : calls_(calls) {}
  void Pull(const v1::PullRequest&, v1::PullResponse*, absl::Duration,
            Done done) override {
    ++*calls_;
    done(absl::InternalError("the fallback was used"));
  }
  void PushPull(const v1::PushRequest&, v1::PushPullResponse*, absl::Duration,
                Done done) override {
    ++*calls_;
    done(absl::InternalError("the fallback was used"));
  }

 private:
  std::atomic<int>* const calls_;
};

// One shard of a 10-parameter model (SGD, lr 1) behind a service, served
// on gRPC and on a shared-memory endpoint.
class ShmServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(1); }
  void TearDown() override {
    service_->Close();
    local_->Stop();
  }

  void Build(int num_workers) {
    registry_ = MetricsRegistry::Create({{"role", "server"}});
    metrics_ = std::make_unique<ServerMetrics>(*registry_);
    ParameterShardOptions options;
    options.job_id = "job-1";
    options.num_workers = num_workers;
    if (num_workers > 1) options.consistency = v1::BSP;
    options.range = {0, kParams};
    options.layout.Add({"w", {kParams}, InitRule::kZeros, 1, 1});
    options.optimizer.mutable_sgd()->set_learning_rate(1.0);
    shard_ = *ParameterShard::Create(std::move(options));
    service_ = std::make_unique<ParameterServerService>(
        metrics_.get(), kToken,
        RefusalTarpitOptions{.delay = absl::ZeroDuration()});
    auto running = StartRpcServer("127.0.0.1:0", {service_.get()},
                                  RpcSecurity{.token = kToken});
    ASSERT_TRUE(running.ok()) << running.status();
    grpc_ = *std::move(running);
    auto local = ShmServer::Start(service_.get());
    ASSERT_TRUE(local.ok()) << local.status();
    local_ = *std::move(local);
    service_->Attach(shard_.get());
  }

  std::unique_ptr<ShmShardTransport> Transport(std::string token = kToken) {
    auto t =
        ShmShardTransport::Connect(local_->name(), std::move(token),
                                   std::make_unique<NoFallback>(&fallback_));
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *std::move(t) : nullptr;
  }

  v1::PushRequest PushOf(int32_t worker, uint64_t request_id, float value) {
    v1::PushRequest request;
    request.mutable_header()->set_job_id("job-1");
    request.mutable_header()->set_worker_id(worker);
    request.mutable_header()->set_request_id(request_id);
    const std::vector<float> grad(kParams, value);
    request.mutable_gradient()->set_values(
        std::string(reinterpret_cast<const char*>(grad.data()),
                    grad.size() * sizeof(float)));
    return request;
  }

  absl::Status Call(ShardTransport& t, const v1::PushRequest& request,
                    v1::PushPullResponse* response,
                    absl::Duration deadline = absl::Seconds(5)) {
    absl::Notification done;
    absl::Status status;
    t.PushPull(request, response, deadline, [&](absl::Status s) {
      status = s;
      done.Notify();
    });
    done.WaitForNotification();
    return status;
  }

  double Rejected(const char* reason) {
    return metrics_->rejected.Add({{"reason", reason}}).Value();
  }

  std::atomic<int> fallback_{0};
  std::unique_ptr<MetricsRegistry> registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<ParameterShard> shard_;
  std::unique_ptr<ParameterServerService> service_;
  RunningServer grpc_;
  std::unique_ptr<ShmServer> local_;
};

std::vector<float> Floats(const std::string& bytes) {
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

TEST_F(ShmServerTest, PushPullAndPullGiveWhatGrpcGives) {
  auto shm = Transport();
  GrpcShardTransport grpc(grpc_.address, RpcSecurity{.token = kToken});
  v1::PushPullResponse over_shm, over_grpc;
  ASSERT_TRUE(Call(*shm, PushOf(0, 1, 2.0f), &over_shm).ok());
  ASSERT_TRUE(Call(grpc, PushOf(0, 2, 3.0f), &over_grpc).ok());
  EXPECT_EQ(Floats(over_shm.params().values()),
            std::vector<float>(kParams, -2.0f));
  EXPECT_EQ(Floats(over_grpc.params().values()),
            std::vector<float>(kParams, -5.0f));
  EXPECT_EQ(over_grpc.version(), over_shm.version() + 1);
  // The same Pull both ways: the same bytes.
  v1::PullRequest pull;
  pull.mutable_header()->set_job_id("job-1");
  pull.mutable_header()->set_worker_id(0);
  v1::PullResponse a, b;
  for (auto [t, r] :
       {std::pair<ShardTransport*, v1::PullResponse*>{shm.get(), &a},
        {&grpc, &b}}) {
    absl::Notification done;
    t->Pull(pull, r, absl::Seconds(5), [&](absl::Status s) {
      EXPECT_TRUE(s.ok()) << s;
      done.Notify();
    });
    done.WaitForNotification();
  }
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  EXPECT_EQ(metrics_->pushes.Value(), 2);
  EXPECT_EQ(metrics_->pulls.Value(), 4);  // two PushPulls, two Pulls
  EXPECT_EQ(fallback_.load(), 0);
  EXPECT_EQ(shm->fallback_calls(), 0);
}

TEST_F(ShmServerTest, TheShardsRefusalsComeBackAsTheyWould) {
  auto shm = Transport();
  v1::PushRequest wrong_job = PushOf(0, 1, 1.0f);
  wrong_job.mutable_header()->set_job_id("another-job");
  v1::PushPullResponse response;
  absl::Status refused = Call(*shm, wrong_job, &response);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused) ||
              absl::IsInvalidArgument(refused))
      << refused;
  // The connection is still good for the next call.
  EXPECT_TRUE(Call(*shm, PushOf(0, 2, 1.0f), &response).ok());
  EXPECT_EQ(fallback_.load(), 0);
}

TEST_F(ShmServerTest, AWrongTokenIsRefusedAndCounted) {
  auto t = ShmShardTransport::Connect(local_->name(), "not-the-token",
                                      std::make_unique<NoFallback>(&fallback_));
  EXPECT_TRUE(absl::IsUnauthenticated(t.status())) << t.status();
  EXPECT_EQ(Rejected("unauthenticated"), 1);
  EXPECT_EQ(metrics_->pushes.Value(), 0);
}

TEST_F(ShmServerTest, NothingListeningIsUnavailableAndTheFactoryUsesGrpc) {
  auto t = ShmShardTransport::Connect("descent-nobody-here", kToken,
                                      std::make_unique<NoFallback>(&fallback_));
  EXPECT_TRUE(absl::IsUnavailable(t.status())) << t.status();

  PsClient::Options options;
  options.job_id = "job-1";
  options.worker_id = 0;
  v1::ShardInfo& info = options.shards.emplace_back();
  info.set_shard(0);
  info.set_address(grpc_.address);
  info.set_begin(0);
  info.set_end(kParams);
  info.set_local_socket("descent-nobody-here");
  options.deadline = absl::Seconds(5);
  options.connect =
      ShardTransportFactoryFor(RpcSecurity{.token = kToken}, true);
  auto client = PsClient::Create(std::move(options));
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<float> grad(kParams, 1), params(kParams);
  PsClient::Transfer transfer;
  ASSERT_TRUE(
      (*client)->PushPull({0}, grad.data(), params.data(), &transfer).ok());
  EXPECT_EQ(params, std::vector<float>(kParams, -1.0f));
}

TEST_F(ShmServerTest, PsClientThroughTheFactoryTrainsOverSharedMemory) {
  PsClient::Options options;
  options.job_id = "job-1";
  options.worker_id = 0;
  v1::ShardInfo& info = options.shards.emplace_back();
  info.set_shard(0);
  info.set_address("127.0.0.1:1");  // no gRPC there: shared memory or bust
  info.set_begin(0);
  info.set_end(kParams);
  info.set_local_socket(local_->name());
  options.deadline = absl::Seconds(5);
  options.max_attempts = 1;
  options.connect =
      ShardTransportFactoryFor(RpcSecurity{.token = kToken}, true);
  auto client = PsClient::Create(std::move(options));
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<float> grad(kParams, 0.25f), params(kParams);
  PsClient::Transfer transfer;
  for (int step = 0; step < 4; ++step) {
    absl::Status pushed =
        (*client)->PushPull({step}, grad.data(), params.data(), &transfer);
    ASSERT_TRUE(pushed.ok()) << pushed;
  }
  EXPECT_EQ(params, std::vector<float>(kParams, -1.0f));
  EXPECT_EQ(metrics_->pushes.Value(), 4);
}

TEST_F(ShmServerTest, ARequestThatDoesNotParseIsInvalidArgumentAndCounted) {
  absl::StatusOr<int> fd = ConnectShmSocket(local_->name());
  ASSERT_TRUE(fd.ok()) << fd.status();
  ShmChannel channel(*fd, 1 << 20);
  ASSERT_TRUE(
      channel.Send(ShmKind::kHello, nullptr, absl::StatusCode::kOk, kToken)
          .ok());
  ASSERT_TRUE(channel.Receive(absl::Now() + absl::Seconds(5)).ok());
  const std::string garbage = "\xff\xff\xff\xff\xff";  // a truncated varint tag
  SendRaw(*fd, kMagic, static_cast<uint32_t>(ShmKind::kPushPull),
          garbage.size(), 0, "", MakeRegion(garbage, RegionKind::kSealed));
  absl::StatusOr<ShmFrame> answer =
      channel.Receive(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(answer->text, HasSubstr("does not parse"));
  EXPECT_EQ(Rejected("malformed"), 1);
  EXPECT_EQ(metrics_->pushes.Value(), 0);
}

TEST_F(ShmServerTest, AFrameThatBreaksTheProtocolEndsOnlyItsConnection) {
  auto good = Transport();
  absl::StatusOr<int> fd = ConnectShmSocket(local_->name());
  ASSERT_TRUE(fd.ok()) << fd.status();
  ShmChannel channel(*fd, 1 << 20);
  SendRaw(*fd, 0xdeadbeef, 1, 0, 0, "");  // a hello with a bad magic
  absl::StatusOr<ShmFrame> answer =
      channel.Receive(absl::Now() + absl::Seconds(5));
  EXPECT_TRUE(absl::IsUnavailable(answer.status())) << answer.status();
  EXPECT_EQ(Rejected("malformed"), 1);
  v1::PushPullResponse response;
  EXPECT_TRUE(Call(*good, PushOf(0, 1, 1.0f), &response).ok());
}

TEST_F(ShmServerTest, AHeldPushPastItsDeadlineEndsAndTheNextCallWorks) {
  service_->Close();
  local_->Stop();
  Build(2);  // BSP with 2 workers: worker 0's push waits for worker 1's
  auto shm = Transport();
  v1::PushPullResponse held;
  absl::Status status =
      Call(*shm, PushOf(0, 1, 1.0f), &held, absl::Milliseconds(200));
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
  // A fresh connection carries worker 1's push, which completes the step.
  v1::PushPullResponse response;
  status = Call(*shm, PushOf(1, 1, 1.0f), &response);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(Floats(response.params().values()),
            std::vector<float>(kParams, -1.0f));  // the mean of 1 and 1
  EXPECT_EQ(fallback_.load(), 0);
}

TEST_F(ShmServerTest,
       AStoppedServerEndsCallsUnavailableThenTheFallbackCarries) {
  auto shm = Transport();
  local_->Stop();
  v1::PushPullResponse response;
  absl::Status status = Call(*shm, PushOf(0, 1, 1.0f), &response);
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  // No endpoint any more: the call goes to the fallback.
  status = Call(*shm, PushOf(0, 2, 1.0f), &response);
  EXPECT_THAT(status.message(), HasSubstr("the fallback was used"));
  EXPECT_EQ(fallback_.load(), 1);
  EXPECT_EQ(shm->fallback_calls(), 1);
}

TEST_F(ShmServerTest, TheSamePushesGiveTheSameBitsAsOverGrpc) {
  // Two shards with the same start: one trained over shared memory, the
  // other over gRPC, with the same 500 pseudo-random gradients.
  ParameterShardOptions options;
  options.job_id = "job-1";
  options.range = {0, kParams};
  options.layout.Add({"w", {kParams}, InitRule::kZeros, 1, 1});
  options.optimizer.mutable_sgd()->set_learning_rate(0.0137);
  std::unique_ptr<ParameterShard> twin = *ParameterShard::Create(options);
  auto twin_service = std::make_unique<ParameterServerService>(
      metrics_.get(), kToken,
      RefusalTarpitOptions{.delay = absl::ZeroDuration()});
  auto twin_grpc = StartRpcServer("127.0.0.1:0", {twin_service.get()},
                                  RpcSecurity{.token = kToken});
  ASSERT_TRUE(twin_grpc.ok()) << twin_grpc.status();
  twin_service->Attach(twin.get());
  service_->Close();
  local_->Stop();
  shard_ = *ParameterShard::Create(options);
  service_ = std::make_unique<ParameterServerService>(
      metrics_.get(), kToken,
      RefusalTarpitOptions{.delay = absl::ZeroDuration()});
  auto local = ShmServer::Start(service_.get());
  ASSERT_TRUE(local.ok()) << local.status();
  local_ = *std::move(local);
  service_->Attach(shard_.get());
  auto shm = Transport();
  GrpcShardTransport grpc(twin_grpc->address, RpcSecurity{.token = kToken});
  uint32_t x = 12345;
  v1::PushPullResponse a, b;
  for (int step = 0; step < 500; ++step) {
    v1::PushRequest request = PushOf(0, step + 1, 0);
    std::vector<float> grad(kParams);
    for (float& g : grad) {
      x = x * 1664525u + 1013904223u;
      g = static_cast<float>(x >> 8) / 16777216.0f - 0.5f;
    }
    request.mutable_gradient()->set_values(
        std::string(reinterpret_cast<const char*>(grad.data()),
                    grad.size() * sizeof(float)));
    ASSERT_TRUE(Call(*shm, request, &a).ok());
    ASSERT_TRUE(Call(grpc, request, &b).ok());
    ASSERT_EQ(a.params().values(), b.params().values()) << "step " << step;
  }
  twin_service->Close();
  twin_grpc->server->Shutdown();
}

TEST_F(ShmServerTest, ManyCallersAtOnceEachGetTheirAnswer) {
  auto shm = Transport();
  constexpr int kThreads = 4, kCalls = 50;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        v1::PushPullResponse response;
        if (Call(*shm, PushOf(0, t * 1000 + i + 1, 0.01f), &response).ok() &&
            response.params().values().size() == kParams * sizeof(float)) {
          ++ok;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kCalls);
  EXPECT_EQ(metrics_->pushes.Value(), kThreads * kCalls);
  EXPECT_EQ(fallback_.load(), 0);
}

}  // namespace
}  // namespace descent
