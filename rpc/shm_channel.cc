#include "rpc/shm_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace descent {
namespace {

constexpr uint32_t kMagic = 0x31485344;  // "DSH1"
constexpr size_t kMinRegion = 64 << 10;

struct Header {
  uint32_t magic;
  uint32_t kind;
  uint64_t payload_bytes;
  int32_t code;
  uint32_t text_bytes;
};

size_t RegionSizeFor(size_t bytes) {
  size_t size = kMinRegion;
  while (size < bytes) size *= 2;
  return size;
}

absl::Status Errno(absl::string_view what) {
  const int error = errno;
  const std::string message = absl::StrCat(what, ": ", std::strerror(error));
  if (error == EPIPE || error == ECONNRESET || error == ECONNREFUSED ||
      error == ENOENT || error == ENOTCONN || error == ESHUTDOWN) {
    return absl::UnavailableError(message);
  }
  if (error == ENOMEM || error == ENOSPC || error == EMFILE ||
      error == ENFILE) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::InternalError(message);
}

// A sockaddr_un for the abstract name; false if it does not fit.
bool AbstractAddress(absl::string_view name, sockaddr_un* address,
                     socklen_t* length) {
  std::memset(address, 0, sizeof(*address));
  address->sun_family = AF_UNIX;
  if (name.empty() || name.size() + 1 > sizeof(address->sun_path)) return false;
  std::memcpy(address->sun_path + 1, name.data(), name.size());
  *length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return true;
}

}  // namespace

ShmChannel::ShmChannel(int socket, size_t max_payload)
    : socket_(socket), max_payload_(max_payload) {}

ShmChannel::~ShmChannel() {
  Unmap(&out_);
  Unmap(&in_);
  ::close(socket_);
}

void ShmChannel::Unmap(Region* region) {
  if (region->data != nullptr) ::munmap(region->data, region->size);
  if (region->fd >= 0) ::close(region->fd);
  *region = Region();
}

void ShmChannel::Shutdown() { ::shutdown(socket_, SHUT_RDWR); }

absl::Status ShmChannel::Reserve(size_t bytes, bool* fresh) {
  *fresh = false;
  if (out_.fd >= 0 && out_.size >= bytes) return absl::OkStatus();
  const size_t size = RegionSizeFor(bytes);
  const int fd = ::memfd_create("descent-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return Errno("memfd_create");
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0 ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) !=
          0) {
    absl::Status failed = Errno("sizing a shared-memory region");
    ::close(fd);
    return failed;
  }
  void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) {
    absl::Status failed = Errno("mapping a shared-memory region");
    ::close(fd);
    return failed;
  }
  Unmap(&out_);
  out_ = Region{fd, static_cast<char*>(data), size};
  out_sent_ = false;
  *fresh = true;
  return absl::OkStatus();
}

absl::Status ShmChannel::Adopt(int fd, uint64_t payload_bytes) {
  const int seals = ::fcntl(fd, F_GET_SEALS);
  struct stat info;
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0 || ::fstat(fd, &info) != 0 ||
      info.st_size <= 0 ||
      static_cast<uint64_t>(info.st_size) > RegionSizeFor(max_payload_)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        "the peer's region is not a memfd sealed against shrinking, of at "
        "most the message limit");
  }
  const size_t size = static_cast<size_t>(info.st_size);
  if (payload_bytes > size) {
    ::close(fd);
    return absl::InvalidArgumentError(
        "a shared-memory frame that breaks the protocol: the payload is "
        "larger than the region it is in");
  }
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) {
    absl::Status failed = Errno("mapping the peer's region");
    ::close(fd);
    return failed;
  }
  Unmap(&in_);
  in_ = Region{fd, static_cast<char*>(data), size};
  return absl::OkStatus();
}

absl::Status ShmChannel::Send(ShmKind kind,
                              const google::protobuf::MessageLite* message,
                              absl::StatusCode code, absl::string_view text) {
  text = text.substr(0, kShmMaxText);
  Header header{kMagic, static_cast<uint32_t>(kind), 0,
                static_cast<int32_t>(code), static_cast<uint32_t>(text.size())};
  bool fresh = false;
  if (message != nullptr) {
    const size_t bytes = message->ByteSizeLong();
    if (bytes > max_payload_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("a message of ", bytes, " bytes is over the limit of ",
                       max_payload_));
    }
    if (bytes > 0) {
      if (absl::Status reserved = Reserve(bytes, &fresh); !reserved.ok()) {
        return reserved;
      }
      message->SerializeWithCachedSizesToArray(
          reinterpret_cast<uint8_t*>(out_.data));
    }
    header.payload_bytes = bytes;
  }
  const bool attach = header.payload_bytes > 0 && !out_sent_;
  iovec parts[2] = {{&header, sizeof(header)},
                    {const_cast<char*>(text.data()), text.size()}};
  msghdr msg{};
  msg.msg_iov = parts;
  msg.msg_iovlen = text.empty() ? 1 : 2;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (attach) {
    std::memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &out_.fd, sizeof(int));
  }
  ssize_t sent;
  do {
    sent = ::sendmsg(socket_, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return Errno("sending on the shared-memory connection");
  if (attach) out_sent_ = true;
  return absl::OkStatus();
}

absl::StatusOr<ShmFrame> ShmChannel::Receive(absl::Time deadline) {
  while (true) {
    pollfd ready{socket_, POLLIN, 0};
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError(
            "no answer on the shared-memory connection in time");
      }
      timeout_ms = static_cast<int>(std::min<int64_t>(
          absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
          std::numeric_limits<int>::max()));
    }
    const int polled = ::poll(&ready, 1, timeout_ms);
    if (polled > 0) break;
    if (polled < 0 && errno != EINTR) return Errno("waiting on the connection");
  }
  char buffer[sizeof(Header) + kShmMaxText];
  iovec part{buffer, sizeof(buffer)};
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &part;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t got;
  do {
    got = ::recvmsg(socket_, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (got < 0 && errno == EINTR);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return absl::UnavailableError("the shared-memory connection was shut down");
  }
  if (got < 0) return Errno("receiving on the shared-memory connection");
  if (got == 0) {
    return absl::UnavailableError(
        "the peer closed the shared-memory connection");
  }
  // Every descriptor that came is ours to close, whatever the frame says.
  int fds[4];
  int num_fds = 0;
  bool odd_control = (msg.msg_flags & MSG_CTRUNC) != 0;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
      odd_control = true;
      continue;
    }
    const size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count && num_fds < 4; ++i) {
      std::memcpy(&fds[num_fds++], CMSG_DATA(cmsg) + i * sizeof(int),
                  sizeof(int));
    }
  }
  auto refuse = [&](absl::string_view why) {
    for (int i = 0; i < num_fds; ++i) ::close(fds[i]);
    return absl::InvalidArgumentError(
        absl::StrCat("a shared-memory frame that breaks the protocol: ", why));
  };
  if (odd_control || num_fds > 1) return refuse("unexpected control data");
  if ((msg.msg_flags & MSG_TRUNC) != 0) return refuse("over the frame size");
  if (static_cast<size_t>(got) < sizeof(Header)) return refuse("short header");
  Header header;
  std::memcpy(&header, buffer, sizeof(header));
  if (header.magic != kMagic) return refuse("bad magic");
  if (header.kind < static_cast<uint32_t>(ShmKind::kHello) ||
      header.kind > static_cast<uint32_t>(ShmKind::kAnswer)) {
    return refuse(absl::StrCat("unknown kind ", header.kind));
  }
  if (header.code < 0 || header.code > 16) {
    return refuse(absl::StrCat("unknown status code ", header.code));
  }
  if (header.text_bytes != static_cast<size_t>(got) - sizeof(Header)) {
    return refuse("the text's length is not what came");
  }
  if (header.payload_bytes > max_payload_) {
    return refuse(absl::StrCat("a payload of ", header.payload_bytes,
                               " bytes is over the limit"));
  }
  if (num_fds == 1) {
    absl::Status adopted = Adopt(fds[0], header.payload_bytes);
    if (!adopted.ok()) return adopted;
  }
  if (header.payload_bytes > 0 &&
      (in_.data == nullptr || header.payload_bytes > in_.size)) {
    return absl::InvalidArgumentError(
        "a shared-memory frame that breaks the protocol: the payload is "
        "larger than the region it is in");
  }
  ShmFrame frame;
  frame.kind = static_cast<ShmKind>(header.kind);
  frame.code = static_cast<absl::StatusCode>(header.code);
  frame.text.assign(buffer + sizeof(Header), header.text_bytes);
  if (header.payload_bytes > 0) {
    frame.payload = absl::string_view(in_.data, header.payload_bytes);
  }
  return frame;
}

namespace {

// A SOCK_SEQPACKET socket and `name`'s abstract address, given to `use`
// (connect or bind + listen); the socket, or `use`'s error naming `what`.
template <typename Use>
absl::StatusOr<int> ShmSocket(absl::string_view name, absl::string_view what,
                              Use use) {
  sockaddr_un address;
  socklen_t length;
  if (!AbstractAddress(name, &address, &length)) {
    return absl::InvalidArgumentError(
        absl::StrCat("local socket name of ", name.size(), " bytes"));
  }
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  if (!use(fd, reinterpret_cast<const sockaddr*>(&address), length)) {
    absl::Status failed = Errno(absl::StrCat(what, " @", name));
    ::close(fd);
    return failed;
  }
  return fd;
}

}  // namespace

absl::StatusOr<int> ConnectShmSocket(absl::string_view name) {
  return ShmSocket(name, "connecting to",
                   [](int fd, const sockaddr* address, socklen_t length) {
                     int connected;
                     do {
                       connected = ::connect(fd, address, length);
                     } while (connected != 0 && errno == EINTR);
                     return connected == 0;
                   });
}

absl::StatusOr<int> ListenShmSocket(absl::string_view name) {
  return ShmSocket(name, "listening on",
                   [](int fd, const sockaddr* address, socklen_t length) {
                     return ::bind(fd, address, length) == 0 &&
                            ::listen(fd, 64) == 0;
                   });
}

}  // namespace descent
