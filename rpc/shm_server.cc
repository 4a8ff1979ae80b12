#include "rpc/shm_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "rpc/rpc.h"

namespace descent {
namespace {

constexpr absl::Duration kHelloTimeout = absl::Seconds(5);

// True if the peer of `fd` runs as this process's user (or as root).
bool SameUser(int fd) {
  ucred peer{};
  socklen_t length = sizeof(peer);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
    return false;
  }
  return peer.uid == ::geteuid() || peer.uid == 0;
}

// Runs one call on the service and waits for its end (a push held at the
// consistency gate waits here, on this connection's own thread).
template <typename Request, typename Response, typename Serve>
grpc::Status Run(const Request& request, Response* response, Serve serve) {
  absl::Notification ended;
  grpc::Status status;
  serve(request, response, [&](const grpc::Status& outcome) {
    status = outcome;
    ended.Notify();
  });
  ended.WaitForNotification();
  return status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ShmServer>> ShmServer::Start(
    ParameterServerService* service, int max_connections) {
  absl::BitGen random;
  const std::string name = absl::StrFormat("descent-%d-%016x", ::getpid(),
                                           absl::Uniform<uint64_t>(random));
  absl::StatusOr<int> listener = ListenShmSocket(name);
  if (!listener.ok()) return listener.status();
  return std::unique_ptr<ShmServer>(
      new ShmServer(service, *listener, name, max_connections));
}

ShmServer::ShmServer(ParameterServerService* service, int listener,
                     std::string name, int max_connections)
    : service_(service),
      listener_(listener),
      name_(std::move(name)),
      max_connections_(max_connections) {
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

ShmServer::~ShmServer() {
  Stop();
  ::close(listener_);
}

void ShmServer::Stop() {
  if (stopping_.exchange(true)) return;
  // Wakes accept() (Linux: it fails with EINVAL from now on).
  ::shutdown(listener_, SHUT_RDWR);
  acceptor_.join();
  std::list<Connection> connections;
  {
    absl::MutexLock lock(&mu_);
    for (Connection& c : connections_) c.channel->Shutdown();
    connections.swap(connections_);
  }
  for (Connection& c : connections) c.thread.join();
}

void ShmServer::Reap() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (it->ended.load()) {
      it->thread.join();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void ShmServer::AcceptLoop() {
  while (!stopping_.load()) {
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (!stopping_.load()) {
        PLOG(WARNING) << "shared-memory endpoint @" << name_
                      << " stops accepting";
      }
      return;
    }
    if (!SameUser(fd)) {
      service_->CountRejected("unauthenticated");
      ::close(fd);
      continue;
    }
    absl::MutexLock lock(&mu_);
    Reap();
    if (stopping_.load() ||
        static_cast<int>(connections_.size()) >= max_connections_) {
      ::close(fd);
      continue;
    }
    Connection& c = connections_.emplace_back();
    c.channel = std::make_unique<ShmChannel>(fd, kMaxMessageBytes);
    c.thread = std::thread([this, &c] {
      Serve(&c);
      c.channel->Shutdown();  // the peer sees the end now, not at Reap
      c.ended.store(true);
    });
  }
}

void ShmServer::Serve(Connection* connection) {
  ShmChannel& channel = *connection->channel;
  absl::StatusOr<ShmFrame> hello = channel.Receive(absl::Now() + kHelloTimeout);
  if (!hello.ok() || hello->kind != ShmKind::kHello) {
    if (hello.ok() || absl::IsInvalidArgument(hello.status())) {
      service_->CountRejected("malformed");
    }
    return;
  }
  if (!service_->AcceptsToken(hello->text)) {
    service_->CountRejected("unauthenticated");
    channel
        .Send(ShmKind::kWelcome, nullptr, absl::StatusCode::kUnauthenticated,
              "wrong job token")
        .IgnoreError();
    return;
  }
  if (!channel.Send(ShmKind::kWelcome, nullptr).ok()) return;
  ParameterServerService* service = service_;
  // Kept across calls, so that their buffers are reused.
  v1::PullRequest pull;
  v1::PullResponse pulled;
  v1::PushRequest push;
  v1::PushPullResponse pushed;
  while (true) {
    absl::StatusOr<ShmFrame> frame = channel.Receive(absl::InfiniteFuture());
    if (!frame.ok()) {
      if (absl::IsInvalidArgument(frame.status())) {
        service_->CountRejected("malformed");
        LOG(WARNING) << "shared-memory connection closed: "
                     << frame.status().message();
      }
      return;
    }
    grpc::Status status;
    const google::protobuf::MessageLite* answer = nullptr;
    if (frame->kind == ShmKind::kPull) {
      if (!pull.ParseFromArray(frame->payload.data(),
                               static_cast<int>(frame->payload.size()))) {
        status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "the request of Pull does not parse as its "
                              "message");
      } else {
        pulled.Clear();
        status = Run(pull, &pulled, [service](auto&&... args) {
          service->ServePull(grpc::Status::OK,
                             std::forward<decltype(args)>(args)...);
        });
        answer = &pulled;
      }
    } else if (frame->kind == ShmKind::kPushPull) {
      if (!push.ParseFromArray(frame->payload.data(),
                               static_cast<int>(frame->payload.size()))) {
        status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "the request of PushPull does not parse as its "
                              "message");
      } else {
        pushed.Clear();
        status = Run(push, &pushed, [service](auto&&... args) {
          service->ServePushPull(grpc::Status::OK,
                                 std::forward<decltype(args)>(args)...);
        });
        answer = &pushed;
      }
    } else {
      service_->CountRejected("malformed");
      LOG(WARNING) << "shared-memory connection closed: a frame of kind "
                   << static_cast<int>(frame->kind) << " where a call belongs";
      return;
    }
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
        answer == nullptr) {
      service_->CountRejected("malformed");
    }
    absl::Status sent;
    if (status.ok()) {
      sent = channel.Send(ShmKind::kAnswer, answer);
      if (absl::IsResourceExhausted(sent)) {
        sent =
            channel.Send(ShmKind::kAnswer, nullptr, absl::StatusCode::kInternal,
                         absl::StrCat("the answer: ", sent.message()));
      }
    } else {
      sent = channel.Send(ShmKind::kAnswer, nullptr,
                          static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    if (!sent.ok()) return;
  }
}

}  // namespace descent
