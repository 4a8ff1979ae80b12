#include "rpc/aliased_bytes.h"

#include <algorithm>
#include <climits>
#include <vector>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/slice.h"

namespace descent {
namespace {

// Small fields go into slices of its own, 8 KiB first and doubling to
// 1 MiB (a PushPull's header needs one); bytes runs that do not fit the
// current slice are handed over by pointer (protobuf calls WriteAliasedRaw
// for them once aliasing is enabled).
class SliceWriter final : public google::protobuf::io::ZeroCopyOutputStream {
 public:
  SliceWriter(void* owner, void (*release)(void*), std::atomic<int>* refs)
      : owner_(owner), release_(release), refs_(refs) {}

  bool Next(void** data, int* size) override {
    Flush();
    block_ = grpc::Slice(next_size_);
    used_ = next_size_;
    next_size_ = std::min<size_t>(next_size_ * 2, kMaxBlock);
    *data = const_cast<uint8_t*>(block_.begin());
    *size = static_cast<int>(used_);
    byte_count_ += used_;
    return true;
  }
  void BackUp(int count) override {
    used_ -= count;
    byte_count_ -= count;
  }
  int64_t ByteCount() const override { return byte_count_; }
  bool AllowsAliasing() const override { return true; }
  bool WriteAliasedRaw(const void* data, int size) override {
    Flush();
    refs_->fetch_add(1, std::memory_order_relaxed);
    slices_.emplace_back(const_cast<void*>(data), static_cast<size_t>(size),
                         release_, owner_);
    byte_count_ += size;
    return true;
  }

  // The slices written, in order.
  std::vector<grpc::Slice>& Finish() {
    Flush();
    return slices_;
  }

 private:
  static constexpr size_t kMaxBlock = size_t{1} << 20;

  void Flush() {
    if (used_ > 0) slices_.push_back(block_.sub(0, used_));
    block_ = grpc::Slice();
    used_ = 0;
  }

  void* const owner_;
  void (*const release_)(void*);
  std::atomic<int>* const refs_;
  std::vector<grpc::Slice> slices_;
  grpc::Slice block_;
  size_t used_ = 0;  // bytes of block_ handed out and not backed up
  size_t next_size_ = 8 << 10;
  int64_t byte_count_ = 0;
};

}  // namespace

bool AliasedBytesOwner::SerializeAliased(
    const google::protobuf::MessageLite& message, grpc::ByteBuffer* buffer) {
  buffer->Clear();
  if (message.ByteSizeLong() > static_cast<size_t>(INT_MAX)) return false;
  SliceWriter writer(this, &AliasedBytesOwner::ReleaseSlice, &refs_);
  {
    google::protobuf::io::CodedOutputStream coded(&writer);
    coded.EnableAliasing(true);
    message.SerializeWithCachedSizes(&coded);
    if (coded.HadError()) return false;
  }  // trims the last slice
  std::vector<grpc::Slice>& slices = writer.Finish();
  grpc::ByteBuffer encoded(slices.data(), slices.size());
  buffer->Swap(&encoded);
  return true;
}

void AliasedBytesOwner::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) OnReleased();
}

void AliasedBytesOwner::ReleaseSlice(void* owner) {
  static_cast<AliasedBytesOwner*>(owner)->Unref();
}

bool ParseByteBuffer(grpc::ByteBuffer* buffer,
                     google::protobuf::MessageLite* message) {
  grpc::ProtoBufferReader reader(buffer);
  if (!reader.status().ok()) return false;
  return message->ParseFromZeroCopyStream(&reader);
}

}  // namespace descent
