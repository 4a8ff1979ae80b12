// A job's membership through InProcessCoordinatorClient, no sockets: a
// server and a worker register through the client, the job starts, and
// the worker's WaitUntilRunning sees the shard map.
#include "server/coordinator/in_process_coordinator_client.h"

#include "gtest/gtest.h"

namespace descent {
namespace {

TEST(InProcessCoordinatorClientTest, AJobRegistersAndStartsThroughIt) {
  CoordinatorOptions options;
  options.config.set_job_id("job-1");
  options.config.mutable_cluster()->set_num_servers(1);
  options.config.mutable_cluster()->set_num_workers(1);
  options.config.mutable_cluster()->set_heartbeat_timeout_seconds(10);
  options.config.mutable_cluster()->set_registration_timeout_seconds(60);
  options.config.mutable_train()->set_epochs(1);
  options.num_parameters = 5;
  options.num_features = 2;
  options.train_examples = 10;
  Coordinator coordinator(std::move(options));
  InProcessCoordinatorClient client(&coordinator);

  v1::RegisterServerRequest server;
  server.set_shard(0);
  server.set_address("127.0.0.1:5000");
  auto shard = client.RegisterServer(server, absl::Seconds(1));
  ASSERT_TRUE(shard.ok()) << shard.status();
  v1::RegisterWorkerRequest worker;
  worker.set_instance_id(42);
  auto registered = client.RegisterWorker(worker, absl::Seconds(1));
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_EQ(registered->worker_id(), 0);

  auto running = client.WaitUntilRunning(absl::Seconds(1));
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_EQ(running->shards_size(), 1);
  EXPECT_EQ(running->shards(0).address(), "127.0.0.1:5000");
  EXPECT_EQ(running->shards(0).end(), 5u);

  // A refusal comes back as the coordinator's own error.
  v1::RegisterServerRequest again = server;
  again.set_shard(7);
  EXPECT_TRUE(absl::IsInvalidArgument(
      client.RegisterServer(again, absl::Seconds(1)).status()));
}

}  // namespace
}  // namespace descent
