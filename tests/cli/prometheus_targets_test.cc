#include "cli/prometheus_targets.h"

#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

v1::Member Member(v1::Role role, int id, const std::string& metrics) {
  v1::Member member;
  member.set_role(role);
  member.set_id(id);
  member.set_metrics_address(metrics);
  return member;
}

v1::JobStatus RunningJob() {
  v1::JobStatus status;
  status.set_job_id("job-1");
  status.set_state(v1::RUNNING);
  *status.add_members() = Member(v1::COORDINATOR, 0, "127.0.0.1:4000");
  *status.add_members() = Member(v1::SERVER, 1, "127.0.0.1:4001");
  *status.add_members() = Member(v1::WORKER, 0, "127.0.0.1:4002");
  return status;
}

TEST(PrometheusTargetsTest, OneLabelledGroupPerMember) {
  EXPECT_EQ(PrometheusTargets(RunningJob()),
            "[\n"
            "  {\"targets\": [\"127.0.0.1:4000\"], \"labels\": {\"job_id\": "
            "\"job-1\", \"role\": \"coordinator\"}},\n"
            "  {\"targets\": [\"127.0.0.1:4001\"], \"labels\": {\"job_id\": "
            "\"job-1\", \"role\": \"server\", \"shard\": \"1\"}},\n"
            "  {\"targets\": [\"127.0.0.1:4002\"], \"labels\": {\"job_id\": "
            "\"job-1\", \"role\": \"worker\", \"worker\": \"0\"}}\n"
            "]\n");
}

TEST(PrometheusTargetsTest, IsJsonThatParses) {
  google::protobuf::ListValue groups;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  PrometheusTargets(RunningJob()), &groups)
                  .ok());
  ASSERT_EQ(groups.values_size(), 3);
  const auto& server = groups.values(1).struct_value().fields();
  EXPECT_EQ(server.at("targets").list_value().values(0).string_value(),
            "127.0.0.1:4001");
  EXPECT_EQ(
      server.at("labels").struct_value().fields().at("shard").string_value(),
      "1");
  EXPECT_EQ(
      server.at("labels").struct_value().fields().at("job_id").string_value(),
      "job-1");
}

TEST(PrometheusTargetsTest, NoMembersIsAnEmptyList) {
  EXPECT_EQ(PrometheusTargets(v1::JobStatus()), "[]\n");
}

TEST(PrometheusTargetsTest, MembersWithoutMetricsAddressAreLeftOut) {
  v1::JobStatus status;
  *status.add_members() = Member(v1::WORKER, 3, "");
  EXPECT_EQ(PrometheusTargets(status), "[]\n");
}

TEST(PrometheusTargetsTest, EscapesQuotesBackslashesAndControls) {
  v1::JobStatus status;
  *status.add_members() = Member(v1::SERVER, 0, "a\"b\\c\n:1");
  google::protobuf::ListValue groups;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  PrometheusTargets(status), &groups)
                  .ok());
  EXPECT_EQ(groups.values(0)
                .struct_value()
                .fields()
                .at("targets")
                .list_value()
                .values(0)
                .string_value(),
            "a\"b\\c\n:1");
}

}  // namespace
}  // namespace descent
