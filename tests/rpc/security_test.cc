// Who may talk to a descent server: the job token on every call of the
// parameter-server and coordinator services (a stranger can neither push,
// pull, register nor read the job's state, is counted, and changes
// nothing; a parameter server answers it late), TLS with certificates this
// test makes with openssl (plaintext refused, mTLS refuses a client
// without a certificate or with one of another CA), and LoadRpcSecurity's
// errors.
#include "rpc/security.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "common/storage/atomic_file.h"
#include "descent/v1/coordinator.grpc.pb.h"
#include "descent/v1/ps.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "rpc/coordinator_service.h"
#include "rpc/parameter_server_service.h"
#include "rpc/rpc.h"
#include "server/shard/parameter_shard.h"

namespace descent {
// Designated initializers below leave the other fields at their defaults
// on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace {

// A client's security with `token` and no TLS.
RpcSecurity TokenOnly(const std::string& token) {
  RpcSecurity security;
  security.token = token;
  return security;
}

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "right-token-0123456789";

// A push of 1s to the 4 parameters of job "job" from worker 0.
v1::PushRequest OnesPush() {
  v1::PushRequest request;
  request.mutable_header()->set_job_id("job");
  request.mutable_header()->set_request_id(1);
  std::vector<float> ones(4, 1.0f);
  request.mutable_gradient()->set_values(
      std::string(reinterpret_cast<const char*>(ones.data()), 16));
  request.set_examples(1);
  return request;
}

double Rejected(MetricsRegistry& registry, const std::string& family,
                const std::string& reason) {
  for (const prometheus::MetricFamily& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      for (const prometheus::ClientMetric::Label& label : m.label) {
        if (label.name == "reason" && label.value == reason) {
          return m.counter.value;
        }
      }
    }
  }
  return -1;
}

// Job "job-1": 1 server, 1 worker, 10 examples, 4 parameters.
CoordinatorOptions OneWorkerJob() {
  CoordinatorOptions options;
  options.config.set_job_id("job-1");
  options.config.mutable_cluster()->set_num_servers(1);
  options.config.mutable_cluster()->set_num_workers(1);
  options.config.mutable_train()->set_epochs(1);
  options.num_parameters = 4;
  options.num_features = 3;
  options.train_examples = 10;
  return options;
}

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = MetricsRegistry::Create({{"role", "server"}});
    metrics_ = std::make_unique<ServerMetrics>(*registry_);
    ParameterShardOptions options;
    options.job_id = "job";
    options.range = {0, 4};
    options.layout.Add({"w", {4}, InitRule::kZeros});
    options.optimizer.mutable_sgd()->set_learning_rate(1.0);
    shard_ = *ParameterShard::Create(std::move(options));
    service_ = std::make_unique<ParameterServerService>(metrics_.get(), kToken);
    auto running = StartRpcServer("127.0.0.1:0", {service_.get()},
                                  RpcSecurity(), service_->ServerOptions());
    ASSERT_TRUE(running.ok()) << running.status();
    server_ = *std::move(running);
    service_->Attach(shard_.get());
    service_->ReportHealth(server_.server.get());
  }

  std::unique_ptr<v1::ParameterServer::Stub> Stub(const std::string& token) {
    return v1::ParameterServer::NewStub(
        MakeChannel(server_.address, TokenOnly(token)));
  }

  grpc::Status Push(const std::string& token) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(5));
    v1::PushResponse response;
    return Stub(token)->Push(&context, OnesPush(), &response);
  }

  grpc::Status Pull(const std::string& token, v1::PullResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(5));
    v1::PullRequest request;
    request.mutable_header()->set_job_id("job");
    return Stub(token)->Pull(&context, request, response);
  }

  std::unique_ptr<MetricsRegistry> registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<ParameterShard> shard_;
  std::unique_ptr<ParameterServerService> service_;
  RunningServer server_;
};

TEST_F(TokenTest, AStrangerCanNeitherPushNorPullAndIsCounted) {
  const std::string family = "descent_server_rejected_requests_total";
  EXPECT_EQ(Rejected(*registry_, family, "unauthenticated"), 0);
  const absl::Time start = absl::Now();
  const grpc::Status missing = Push("");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // Answered after the tarpit's delay (refusal_tarpit.h): a stranger
  // guessing tokens gets a couple of answers a second.
  EXPECT_GE(absl::Now() - start, RefusalTarpitOptions().delay);
  const grpc::Status wrong = Push("right-token-0123456788");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(wrong.error_message(), Not(HasSubstr(kToken)));
  EXPECT_THAT(wrong.error_message(), Not(HasSubstr("\"job\"")));
  v1::PullResponse stolen;
  EXPECT_EQ(Pull("", &stolen).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_FALSE(stolen.has_params());
  EXPECT_EQ(Rejected(*registry_, family, "unauthenticated"), 3);
  // Nothing changed: the shard is at version 0 with its zeros.
  EXPECT_EQ(shard_->version(), 0);
  v1::PullResponse pulled;
  ASSERT_TRUE(Pull(kToken, &pulled).ok());
  EXPECT_EQ(pulled.params().values(), std::string(16, '\0'));
  // With the token the same push is applied.
  EXPECT_TRUE(Push(kToken).ok());
  EXPECT_EQ(shard_->version(), 1);
}

TEST_F(TokenTest, HealthAnswersWithoutAToken) {
  auto stub = grpc::health::v1::Health::NewStub(
      MakeChannel(server_.address, RpcSecurity()));
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(stub->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST(CoordinatorTokenTest, AStrangerCanNeitherRegisterNorReadTheJob) {
  Coordinator coordinator(OneWorkerJob());
  auto registry = MetricsRegistry::Create({{"role", "coordinator"}});
  CoordinatorMetrics metrics(*registry);
  CoordinatorService service(&coordinator, &metrics, kToken);
  auto running = StartRpcServer("127.0.0.1:0", {&service}, RpcSecurity());
  ASSERT_TRUE(running.ok()) << running.status();
  auto stranger = v1::Coordinator::NewStub(
      MakeChannel(running->address, TokenOnly("guess")));
  {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(5));
    v1::RegisterWorkerRequest request;
    request.set_instance_id(7);
    v1::RegisterWorkerResponse response;
    EXPECT_EQ(
        stranger->RegisterWorker(&context, request, &response).error_code(),
        grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_FALSE(response.has_config());
  }
  {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(5));
    v1::RegisterServerRequest request;
    request.set_address("127.0.0.1:5000");
    v1::RegisterServerResponse response;
    EXPECT_EQ(
        stranger->RegisterServer(&context, request, &response).error_code(),
        grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(5));
    v1::JobStatus status;
    const grpc::Status refused =
        stranger->GetJobStatus(&context, v1::GetJobStatusRequest(), &status);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_THAT(refused.error_message(), Not(HasSubstr("job-1")));
    EXPECT_TRUE(status.job_id().empty());
  }
  EXPECT_EQ(Rejected(*registry, "descent_coordinator_rejected_requests_total",
                     "unauthenticated"),
            3);
  // Nothing registered: the job still waits for its members.
  EXPECT_EQ(coordinator.Status().members_size(), 1);  // itself only
  EXPECT_EQ(coordinator.state(), v1::REGISTERING);
  // The job's own client is served.
  auto member = v1::Coordinator::NewStub(
      MakeChannel(running->address, TokenOnly(kToken)));
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(5));
  v1::JobStatus status;
  ASSERT_TRUE(
      member->GetJobStatus(&context, v1::GetJobStatusRequest(), &status).ok());
  EXPECT_EQ(status.job_id(), "job-1");
}

TEST(SameTokenTest, ComparesWholeTokens) {
  EXPECT_TRUE(SameToken("abc", "abc"));
  EXPECT_FALSE(SameToken("abd", "abc"));
  EXPECT_FALSE(SameToken("ab", "abc"));
  EXPECT_FALSE(SameToken("abcd", "abc"));
  EXPECT_FALSE(SameToken("", "abc"));
}

// Certificates made once for the suite with openssl: a CA, a certificate
// for 127.0.0.1 it signs, and a stranger's CA and certificate.
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        absl::StrCat(std::filesystem::temp_directory_path().string(),
                     "/descent_tls_", getpid()));
    std::filesystem::create_directories(*dir_);
    const std::string script = absl::StrCat(
        "set -e; cd ", *dir_,
        "; for who in ca other; do openssl req -x509 -newkey rsa:2048 -nodes "
        "-keyout $who.key -out $who.pem -days 2 -subj /CN=$who-ca "
        "2>/dev/null; done; "
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext; "
        "for who in ca other; do openssl req -newkey rsa:2048 -nodes "
        "-keyout $who-node.key -out $who-node.csr -subj /CN=node "
        "2>/dev/null; openssl x509 -req -in $who-node.csr -CA $who.pem "
        "-CAkey $who.key -CAcreateserial -out $who-node.pem -days 2 "
        "-extfile san.ext 2>/dev/null; done");
    ok_ = std::system(script.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    std::filesystem::remove_all(*dir_, ignored);
    delete dir_;
  }

  void SetUp() override { ASSERT_TRUE(ok_) << "openssl failed in " << *dir_; }

  static std::string Read(const std::string& name) {
    return *ReadWholeFile(absl::StrCat(*dir_, "/", name));
  }
  // Signed by `ca` ("ca" or "other"), trusting `trust` (empty: nothing).
  static RpcSecurity Node(const std::string& ca, const std::string& trust) {
    RpcSecurity security;
    security.token = kToken;
    if (!ca.empty()) {
      security.cert_pem = Read(ca + "-node.pem");
      security.key_pem = Read(ca + "-node.key");
    }
    if (!trust.empty()) security.ca_pem = Read(trust + ".pem");
    return security;
  }

  // A coordinator service on TLS with `server`'s credentials; the code of
  // GetJobStatus from a client with `client`'s.
  grpc::StatusCode Call(const RpcSecurity& server, const RpcSecurity& client) {
    Coordinator coordinator(OneWorkerJob());
    auto registry = MetricsRegistry::Create({{"role", "coordinator"}});
    CoordinatorMetrics metrics(*registry);
    CoordinatorService service(&coordinator, &metrics, kToken);
    auto running = StartRpcServer("127.0.0.1:0", {&service}, server);
    EXPECT_TRUE(running.ok()) << running.status();
    if (!running.ok()) return grpc::StatusCode::INTERNAL;
    auto stub = v1::Coordinator::NewStub(MakeChannel(running->address, client));
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(3));
    v1::JobStatus status;
    const grpc::StatusCode code =
        stub->GetJobStatus(&context, v1::GetJobStatusRequest(), &status)
            .error_code();
    running->server->Shutdown();
    return code;
  }

  static std::string* dir_;
  static bool ok_;
};

std::string* TlsTest::dir_ = nullptr;
bool TlsTest::ok_ = false;

TEST_F(TlsTest, TlsWorksAndPlaintextIsRefused) {
  const RpcSecurity server = Node("ca", "");
  EXPECT_EQ(Call(server, Node("", "ca")), grpc::StatusCode::OK);
  RpcSecurity plaintext;
  plaintext.token = kToken;
  EXPECT_EQ(Call(server, plaintext), grpc::StatusCode::UNAVAILABLE);
  // A client that trusts another CA does not accept the server.
  EXPECT_EQ(Call(server, Node("", "other")), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutACertificateOfTheCa) {
  const RpcSecurity server = Node("ca", "ca");
  EXPECT_EQ(Call(server, Node("ca", "ca")), grpc::StatusCode::OK);
  EXPECT_EQ(Call(server, Node("", "ca")), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call(server, Node("other", "ca")), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, ANonLoopbackAddressNeedsTlsOrInsecure) {
  RpcSecurity plaintext;
  plaintext.token = kToken;
  EXPECT_EQ(StartRpcServer("0.0.0.0:0", {}, plaintext).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto tls = StartRpcServer("0.0.0.0:0", {}, Node("ca", ""));
  EXPECT_TRUE(tls.ok()) << tls.status();
}

// LoadRpcSecurity's refusals name the flag or variable.
class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv(kTokenEnv);
    dir_ = absl::StrCat(std::filesystem::temp_directory_path().string(),
                        "/descent_load_", getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    unsetenv(kTokenEnv);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(LoadTest, TheTokenComesFromTheEnvironmentOrAFile) {
  absl::StatusOr<RpcSecurity> none = LoadRpcSecurity({});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(none.status().message(), HasSubstr("DESCENT_JOB_TOKEN"));
  EXPECT_TRUE(LoadRpcSecurity({.insecure = true}).ok());
  setenv(kTokenEnv, "from-env\n", 1);
  EXPECT_EQ(LoadRpcSecurity({})->token, "from-env");
  const std::string file = Write("token", "from-file\n");
  EXPECT_THAT(LoadRpcSecurity({.token_file = file}).status().message(),
              HasSubstr("both"));
  unsetenv(kTokenEnv);
  EXPECT_EQ(LoadRpcSecurity({.token_file = file})->token, "from-file");
  EXPECT_THAT(
      LoadRpcSecurity({.token_file = Write("empty", "\n")}).status().message(),
      HasSubstr("empty"));
  EXPECT_THAT(
      LoadRpcSecurity({.token_file = dir_ + "/absent"}).status().message(),
      HasSubstr("--token_file"));
}

TEST_F(LoadTest, CertificatesAreCheckedBeforeAnythingStarts) {
  setenv(kTokenEnv, "t", 1);
  const std::string pem = Write("a.pem", "-----BEGIN CERTIFICATE-----\n");
  EXPECT_THAT(LoadRpcSecurity({.tls_cert = pem}).status().message(),
              HasSubstr("--tls_key"));
  EXPECT_THAT(LoadRpcSecurity({.tls_cert = pem, .tls_key = Write("k", "x")})
                  .status()
                  .message(),
              HasSubstr("--tls_key="));
  EXPECT_THAT(
      LoadRpcSecurity({.tls_ca = dir_ + "/absent.pem"}).status().message(),
      HasSubstr("--tls_ca="));
  absl::StatusOr<RpcSecurity> loaded =
      LoadRpcSecurity({.tls_cert = pem, .tls_key = pem, .tls_ca = pem});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->tls());
}

}  // namespace
}  // namespace descent
