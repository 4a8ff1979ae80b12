// ShmChannel: one end of a shared-memory connection between a worker (or
// the coordinator) and a shard on the same host.
//
// A connection is a SOCK_SEQPACKET Unix socket, in the abstract namespace
// (so it is reachable only from the same network namespace), and two
// memory regions, one per direction. Each end owns the region it writes:
// a memfd it creates, sealed against shrinking and growing, handed to the
// other end over the socket (SCM_RIGHTS) the first time it is used and
// again whenever it had to be replaced by a larger one. A frame is one
// socket message: a fixed header and a short inline text (the token of a
// hello, the message of a refusal); the message it carries, a serialized
// protobuf, lies at the start of the sender's region. The receiver maps
// the sender's region read-only and parses from it.
//
// Calls alternate strictly on a connection: the client writes a request
// only after the answer to the previous one, and the server its answer
// only after it has parsed the request, so neither end writes a region the
// other is still reading.
//
// Everything a frame declares is checked before it is used: the header's
// magic, kind and sizes, the text length against the socket message's
// length, the payload against the region, and a new region's seals and
// size; a frame that fails is a protocol error (INVALID_ARGUMENT) and the
// connection is closed by its owner.
#ifndef DESCENT_RPC_SHM_CHANNEL_H_
#define DESCENT_RPC_SHM_CHANNEL_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"

namespace descent {

enum class ShmKind : uint32_t {
  kHello = 1,     // client -> server: the job token as text
  kWelcome = 2,   // server -> client: code OK, or the refusal
  kPull = 3,      // client -> server: a v1::PullRequest
  kPushPull = 4,  // client -> server: a v1::PushRequest
  kAnswer = 5,    // server -> client: the response (code OK), or the error
};

// The most text a frame carries inline.
inline constexpr size_t kShmMaxText = 4096;

// What a frame brought. `payload` points into the sender's region and is
// valid until the next Receive on the same channel.
struct ShmFrame {
  ShmKind kind = ShmKind::kHello;
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string text;
  absl::string_view payload;
};

class ShmChannel {
 public:
  // Takes `socket` (a connected SOCK_SEQPACKET Unix socket). `max_payload`
  // bounds the messages either end may send (larger ones are refused
  // before anything is sent or mapped).
  ShmChannel(int socket, size_t max_payload);
  ~ShmChannel();
  ShmChannel(const ShmChannel&) = delete;
  ShmChannel& operator=(const ShmChannel&) = delete;

  // Sends a frame with `message` (may be null) serialized into this end's
  // region, which is replaced by a larger one when the message does not
  // fit. `text` is cut at kShmMaxText. UNAVAILABLE if the peer has gone;
  // RESOURCE_EXHAUSTED if the message is over max_payload or no region of
  // its size can be made.
  absl::Status Send(ShmKind kind, const google::protobuf::MessageLite* message,
                    absl::StatusCode code = absl::StatusCode::kOk,
                    absl::string_view text = {});
  // Waits until `deadline` for the next frame. DEADLINE_EXCEEDED when none
  // came in time, UNAVAILABLE when the peer closed the connection (or
  // Shutdown), INVALID_ARGUMENT for a frame that breaks the protocol.
  absl::StatusOr<ShmFrame> Receive(absl::Time deadline);

  // Wakes a Receive in progress and ends the connection for both ends.
  // Thread-safe; the only call that may overlap the others.
  void Shutdown();

 private:
  struct Region {
    int fd = -1;
    char* data = nullptr;
    size_t size = 0;
  };
  static void Unmap(Region* region);
  // Makes this end's region at least `bytes` large; sets *fresh when the
  // region is new and must be sent with the next frame.
  absl::Status Reserve(size_t bytes, bool* fresh);
  // Maps the peer's new region `fd` (taking it) in place of the old one,
  // if it holds `payload_bytes`; else closes it and keeps the old one.
  absl::Status Adopt(int fd, uint64_t payload_bytes);

  const int socket_;
  const size_t max_payload_;
  Region out_;
  bool out_sent_ = false;
  Region in_;
};

// Connects to the abstract Unix socket `name` (no leading NUL or '@').
// UNAVAILABLE when nothing listens there.
absl::StatusOr<int> ConnectShmSocket(absl::string_view name);
// Binds and listens on the abstract Unix socket `name`.
absl::StatusOr<int> ListenShmSocket(absl::string_view name);

}  // namespace descent

#endif  // DESCENT_RPC_SHM_CHANNEL_H_
