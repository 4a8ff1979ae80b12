#include "rpc/aliased_bytes.h"

#include <string>
#include <vector>

#include "descent/v1/ps.pb.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

// A PushRequest owned the way the transports own theirs; `released` is set
// when the owner goes away.
class OwnedRequest final : public AliasedBytesOwner {
 public:
  explicit OwnedRequest(bool* released) : released_(released) {}
  v1::PushRequest request;

 private:
  ~OwnedRequest() override = default;
  void OnReleased() override {
    *released_ = true;
    delete this;
  }
  bool* const released_;
};

std::string Flatten(const grpc::ByteBuffer& buffer,
                    std::vector<grpc::Slice>* slices) {
  EXPECT_TRUE(buffer.Dump(slices).ok());
  std::string out;
  for (const grpc::Slice& s : *slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

v1::PushRequest Request(size_t value_bytes) {
  v1::PushRequest request;
  request.mutable_header()->set_job_id("job");
  request.mutable_header()->set_request_id(7);
  request.mutable_gradient()->set_offset(12);
  std::string values(value_bytes, '\0');
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<char>(i);
  request.mutable_gradient()->set_values(values);
  request.add_pull_keys(3);
  request.set_examples(64);
  return request;
}

TEST(AliasedBytes, LargeBytesAreSentFromTheMessageInProtobufsEncoding) {
  bool released = false;
  auto* owned = new OwnedRequest(&released);
  owned->request = Request(1 << 20);
  grpc::ByteBuffer buffer;
  ASSERT_TRUE(owned->SerializeAliased(owned->request, &buffer));

  std::vector<grpc::Slice> slices;
  EXPECT_EQ(Flatten(buffer, &slices), owned->request.SerializeAsString());
  const char* values = owned->request.gradient().values().data();
  int aliased = 0;
  for (const grpc::Slice& s : slices) {
    if (reinterpret_cast<const char*>(s.begin()) == values) ++aliased;
  }
  EXPECT_EQ(aliased, 1) << "the gradient's bytes were copied";

  // The owner lives while any aliased slice does.
  owned->Unref();
  EXPECT_FALSE(released);
  buffer.Clear();
  EXPECT_FALSE(released);
  slices.clear();
  EXPECT_TRUE(released);
}

TEST(AliasedBytes, SmallMessagesAreCopiedAndHoldNothing) {
  bool released = false;
  auto* owned = new OwnedRequest(&released);
  owned->request = Request(100);
  grpc::ByteBuffer buffer;
  ASSERT_TRUE(owned->SerializeAliased(owned->request, &buffer));
  const std::string expected = owned->request.SerializeAsString();
  owned->Unref();
  EXPECT_TRUE(released);
  std::vector<grpc::Slice> slices;
  EXPECT_EQ(Flatten(buffer, &slices), expected);
}

TEST(AliasedBytes, ParsesWhatItSerializesAndRefusesGarbage) {
  bool released = false;
  auto* owned = new OwnedRequest(&released);
  owned->request = Request(3 << 20);
  grpc::ByteBuffer buffer;
  ASSERT_TRUE(owned->SerializeAliased(owned->request, &buffer));
  v1::PushRequest parsed;
  ASSERT_TRUE(ParseByteBuffer(&buffer, &parsed));
  EXPECT_EQ(parsed.SerializeAsString(), owned->request.SerializeAsString());
  buffer.Clear();
  owned->Unref();
  EXPECT_TRUE(released);

  const std::string garbage = "\x12\x7f\x01";  // a length past the end
  grpc::Slice slice(garbage);
  grpc::ByteBuffer bad(&slice, 1);
  EXPECT_FALSE(ParseByteBuffer(&bad, &parsed));
}

}  // namespace
}  // namespace descent
