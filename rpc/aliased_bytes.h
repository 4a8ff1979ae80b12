// Protobuf messages to and from grpc::ByteBuffer without copying their bulk
// bytes on the way out.
//
// gRPC's own serializer copies a message into fresh slices; for a
// PushPull that is one more pass over every gradient and parameter byte on
// each side, on top of the copy into the message and the kernel's. Here the
// small fields are written into slices as usual, but every `bytes` field
// too large to fit the current slice (a dense slice's values, a sparse
// table's rows) goes out as a slice that points into the message itself
// (protobuf's aliasing: ZeroCopyOutputStream::WriteAliasedRaw). What goes
// on the wire is the same protobuf encoding, so any peer parses it.
//
// The price is a lifetime rule: the message's bytes fields must stay alive
// and unchanged until gRPC has let go of every aliased slice, which may be
// after the call has ended (a cancelled call's bytes can still be in a
// socket write). Each aliased slice, when released, calls the `release`
// given to SerializeAliased; AliasedBytesOwner counts them for its
// subclass.
#ifndef DESCENT_RPC_ALIASED_BYTES_H_
#define DESCENT_RPC_ALIASED_BYTES_H_

#include <atomic>

#include "google/protobuf/message_lite.h"
#include "grpcpp/support/byte_buffer.h"

namespace descent {

// Something that owns messages serialized with aliasing, and goes away
// (OnReleased) only when its holder has dropped its reference (Unref) and
// gRPC has released every slice that points into it. Starts with one
// reference, its holder's. Thread-safe.
class AliasedBytesOwner {
 public:
  AliasedBytesOwner() = default;
  AliasedBytesOwner(const AliasedBytesOwner&) = delete;
  AliasedBytesOwner& operator=(const AliasedBytesOwner&) = delete;

  // Replaces `*buffer` with `message`'s encoding, its large bytes fields
  // aliased (each adds a reference, dropped when gRPC releases its slice).
  // `message` must belong to this owner. False if the message is over
  // protobuf's 2 GiB limit (then `*buffer` is empty).
  bool SerializeAliased(const google::protobuf::MessageLite& message,
                        grpc::ByteBuffer* buffer);

  // Adds a reference for another holder (a callback the call waits on).
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Drops a holder's reference.
  void Unref();

 protected:
  virtual ~AliasedBytesOwner() = default;
  // Runs once, on the thread that dropped the last reference (a gRPC
  // thread, perhaps inside gRPC's own locks: no gRPC calls from here);
  // typically ends with `delete this`.
  virtual void OnReleased() = 0;

 private:
  static void ReleaseSlice(void* owner);

  std::atomic<int> refs_{1};
};

// Parses `buffer` into `message` (gRPC's own reader: one copy of each
// bytes field). False if it does not parse.
bool ParseByteBuffer(grpc::ByteBuffer* buffer,
                     google::protobuf::MessageLite* message);

}  // namespace descent

#endif  // DESCENT_RPC_ALIASED_BYTES_H_
