#include "rpc/shm_shard_transport.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "rpc/grpc_shard_transport.h"
#include "rpc/rpc.h"
#include "rpc/shm_channel.h"

namespace descent {
namespace {

constexpr size_t kMaxConnections = 8;
constexpr absl::Duration kMaxHelloWait = absl::Seconds(5);

}  // namespace

// One connection and the thread that runs its calls, one at a time.
class ShmShardTransport::Connection {
 public:
  struct Call {
    ShmKind kind;
    const google::protobuf::MessageLite* request;
    google::protobuf::MessageLite* response;
    absl::Time deadline;
    Done done;
  };

  explicit Connection(std::unique_ptr<ShmChannel> channel)
      : channel_(std::move(channel)) {}

  // Starts the thread, which holds `self` until it ends.
  void Begin(ShmShardTransport* transport,
             const std::shared_ptr<Connection>& self) {
    thread_ = std::thread([transport, self] { self->Loop(transport, self); });
  }

  void Start(Call call) {
    absl::MutexLock lock(&mu_);
    call_ = std::move(call);
    has_call_ = true;
  }

  // Ends the thread: a call in progress ends UNAVAILABLE.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    channel_->Shutdown();
  }

  // After Stop: waits for the thread, unless this is it.
  void Finish() {
    if (!thread_.joinable()) return;
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }

 private:
  void Loop(ShmShardTransport* transport,
            const std::shared_ptr<Connection>& self) {
    while (true) {
      Call call;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Connection* c) { return c->has_call_ || c->stop_; }, this));
        if (!has_call_) return;
        call = std::move(call_);
        has_call_ = false;
      }
      bool broken = false;
      absl::Status status = Run(call, &broken);
      transport->Give(self, broken);
      call.done(std::move(status));
    }
  }

  absl::Status Run(const Call& call, bool* broken) {
    absl::Status sent = channel_->Send(call.kind, call.request);
    if (!sent.ok()) {
      // A request over the limit was never sent: the connection is fine.
      *broken = !absl::IsResourceExhausted(sent);
      return sent;
    }
    absl::StatusOr<ShmFrame> frame = channel_->Receive(call.deadline);
    if (!frame.ok()) {
      *broken = true;
      if (absl::IsInvalidArgument(frame.status())) {
        return absl::UnavailableError(
            absl::StrCat("the shard's answer: ", frame.status().message()));
      }
      return frame.status();
    }
    if (frame->kind != ShmKind::kAnswer) {
      *broken = true;
      return absl::UnavailableError(
          "the shard's shared-memory answer breaks the protocol");
    }
    if (frame->code != absl::StatusCode::kOk) {
      return absl::Status(frame->code, frame->text);
    }
    if (!call.response->ParseFromArray(
            frame->payload.data(), static_cast<int>(frame->payload.size()))) {
      *broken = true;
      return absl::InternalError("the shard's answer does not parse");
    }
    return absl::OkStatus();
  }

  const std::unique_ptr<ShmChannel> channel_;
  std::thread thread_;
  absl::Mutex mu_;
  Call call_ ABSL_GUARDED_BY(mu_);
  bool has_call_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

ShmShardTransport::ShmShardTransport(std::string socket_name, std::string token,
                                     std::unique_ptr<ShardTransport> fallback)
    : socket_name_(std::move(socket_name)),
      token_(std::move(token)),
      fallback_(std::move(fallback)) {}

absl::StatusOr<std::unique_ptr<ShmShardTransport>> ShmShardTransport::Connect(
    std::string socket_name, std::string token,
    std::unique_ptr<ShardTransport> fallback, absl::Duration patience) {
  std::unique_ptr<ShmShardTransport> transport(new ShmShardTransport(
      std::move(socket_name), std::move(token), std::move(fallback)));
  absl::StatusOr<std::shared_ptr<Connection>> first = transport->Open(patience);
  if (!first.ok()) return first.status();
  transport->Give(*first, false);
  return transport;
}

ShmShardTransport::~ShmShardTransport() {
  std::vector<std::shared_ptr<Connection>> all;
  {
    absl::MutexLock lock(&mu_);
    all.swap(all_);
    idle_.clear();
  }
  for (const auto& c : all) c->Stop();
  for (const auto& c : all) c->Finish();
}

int64_t ShmShardTransport::fallback_calls() const {
  absl::MutexLock lock(&mu_);
  return fallback_calls_;
}

absl::StatusOr<std::shared_ptr<ShmShardTransport::Connection>>
ShmShardTransport::Open(absl::Duration patience) {
  absl::StatusOr<int> fd = ConnectShmSocket(socket_name_);
  if (!fd.ok()) return fd.status();
  auto channel = std::make_unique<ShmChannel>(*fd, kMaxMessageBytes);
  if (absl::Status hello = channel->Send(ShmKind::kHello, nullptr,
                                         absl::StatusCode::kOk, token_);
      !hello.ok()) {
    return hello;
  }
  absl::StatusOr<ShmFrame> welcome = channel->Receive(absl::Now() + patience);
  if (!welcome.ok()) return welcome.status();
  if (welcome->kind != ShmKind::kWelcome) {
    return absl::UnavailableError(
        absl::StrCat("@", socket_name_, " answered the hello with kind ",
                     static_cast<int>(welcome->kind)));
  }
  if (welcome->code != absl::StatusCode::kOk) {
    return absl::Status(welcome->code,
                        absl::StrCat("@", socket_name_, ": ", welcome->text));
  }
  auto connection = std::make_shared<Connection>(std::move(channel));
  connection->Begin(this, connection);
  absl::MutexLock lock(&mu_);
  all_.push_back(connection);
  return connection;
}

std::shared_ptr<ShmShardTransport::Connection> ShmShardTransport::Take(
    absl::Duration patience) {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      std::shared_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    if (all_.size() >= kMaxConnections) {
      ++fallback_calls_;
      return nullptr;
    }
  }
  absl::StatusOr<std::shared_ptr<Connection>> opened =
      Open(std::min(patience, kMaxHelloWait));
  if (opened.ok()) return *std::move(opened);
  LOG_EVERY_N(WARNING, 100)
      << "shared-memory connection to @" << socket_name_ << " not opened ("
      << opened.status().message() << "); the call goes over gRPC";
  absl::MutexLock lock(&mu_);
  ++fallback_calls_;
  return nullptr;
}

void ShmShardTransport::Give(const std::shared_ptr<Connection>& connection,
                             bool broken) {
  absl::MutexLock lock(&mu_);
  auto it = std::find(all_.begin(), all_.end(), connection);
  if (it == all_.end()) return;  // the destructor has it
  if (!broken) {
    idle_.push_back(connection);
    return;
  }
  all_.erase(it);
  connection->Stop();
  connection->Finish();  // from its own thread: detached, ends by itself
}

void ShmShardTransport::Pull(const v1::PullRequest& request,
                             v1::PullResponse* response,
                             absl::Duration deadline, Done done) {
  std::shared_ptr<Connection> c = Take(deadline);
  if (c == nullptr) {
    fallback_->Pull(request, response, deadline, std::move(done));
    return;
  }
  c->Start({ShmKind::kPull, &request, response, absl::Now() + deadline,
            std::move(done)});
}

void ShmShardTransport::PushPull(const v1::PushRequest& request,
                                 v1::PushPullResponse* response,
                                 absl::Duration deadline, Done done) {
  std::shared_ptr<Connection> c = Take(deadline);
  if (c == nullptr) {
    fallback_->PushPull(request, response, deadline, std::move(done));
    return;
  }
  c->Start({ShmKind::kPushPull, &request, response, absl::Now() + deadline,
            std::move(done)});
}

ShardTransportFactory ShardTransportFactoryFor(RpcSecurity security,
                                               bool shared_memory) {
  return [security = std::move(security),
          shared_memory](const v1::ShardInfo& shard)
             -> absl::StatusOr<std::unique_ptr<ShardTransport>> {
    auto grpc = std::make_unique<GrpcShardTransport>(shard.address(), security);
    if (!shared_memory || security.tls() || shard.local_socket().empty()) {
      return grpc;
    }
    absl::StatusOr<std::unique_ptr<ShmShardTransport>> shm =
        ShmShardTransport::Connect(shard.local_socket(), security.token,
                                   std::move(grpc));
    if (shm.ok()) {
      LOG(INFO) << "shard " << shard.shard() << ": shared memory (@"
                << shard.local_socket() << ")";
      return *std::move(shm);
    }
    LOG(INFO) << "shard " << shard.shard() << ": gRPC at " << shard.address()
              << " (no shared memory: " << shm.status().message() << ")";
    return std::make_unique<GrpcShardTransport>(shard.address(), security);
  };
}

}  // namespace descent
