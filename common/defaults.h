// Every default that proto/descent/v1/job.proto documents, in one place.
//
// ApplyDefaults (common/config.h) fills each absent optional field of a
// JobConfig from these, so every process reads a config with nothing left
// to guess; the optimizers' and schedules' option structs start from the
// same values, and code that runs before the job's config has arrived
// (a worker registering) waits as long as the config would by default.
// Change a default here and in job.proto's comment, and in the README's
// tables.
#ifndef DESCENT_COMMON_DEFAULTS_H_
#define DESCENT_COMMON_DEFAULTS_H_

#include <cstdint>

#include "descent/v1/job.pb.h"

namespace descent::defaults {

// ClusterConfig.
inline constexpr int32_t kNumServers = 1;
inline constexpr int32_t kNumWorkers = 1;
inline constexpr double kHeartbeatTimeoutSeconds = 10;
inline constexpr double kRegistrationTimeoutSeconds = 60;
inline constexpr double kRpcDeadlineSeconds = 10;
// cluster.on_worker_failure has no constant: RESTART under descent local,
// CONTINUE otherwise (Coordinator).
inline constexpr int32_t kMaxWorkerRestarts = 3;
inline constexpr int32_t kMaxServerRestarts = 3;
inline constexpr int64_t kMaxSparseRowsPerShard = 10'000'000;
// cluster.max_workers: num_workers plus this many slots for workers that
// join the running job.
inline constexpr int32_t kJoinSlots = 16;
inline constexpr v1::LostWorkerData kLostWorkerData = v1::SPLIT;

// ModelConfig. Networks: the activation of every layer, the initialization
// of all but the output layer (always Xavier), and a convolution's stride.
inline constexpr v1::InitRule kSoftmaxWeightInit = v1::XAVIER_UNIFORM;
inline constexpr v1::Activation kActivation = v1::RELU;
inline constexpr v1::InitRule kNetworkInit = v1::HE_NORMAL;
inline constexpr int32_t kConvStride = 1;
inline constexpr int32_t kFmFactorDim = 8;
inline constexpr double kFmInitStddev = 0.01;
inline constexpr int32_t kMfRank = 8;
inline constexpr bool kMfBiases = true;
inline constexpr double kMfInitStddev = 0.1;

// DataConfig. File sources hold out every kTestEvery-th line when they
// have no test file.
inline constexpr int32_t kIdxNumClasses = 10;
inline constexpr int32_t kTestEvery = 5;
inline constexpr int64_t kLibsvmMaxFeatures = int64_t{1} << 20;
inline constexpr int32_t kCsvLabelIndex = -1;  // the last column
inline constexpr int64_t kSyntheticTrainExamples = 10000;
inline constexpr int64_t kSyntheticTestExamples = 2000;
inline constexpr int32_t kSyntheticFeatures = 20;
inline constexpr double kSyntheticNoiseStddev = 0.1;
inline constexpr uint64_t kSyntheticSeed = 1;
inline constexpr int32_t kSyntheticNnzPerRow = 10;
inline constexpr int32_t kSyntheticFactorDim = 4;
inline constexpr int64_t kSyntheticUsers = 1000;
inline constexpr int64_t kSyntheticItems = 1000;
inline constexpr int32_t kSyntheticRank = 5;

// TrainConfig. overlap_communication defaults to CanOverlapPushes(the
// consistency) (common/config.h); eval_every_steps, left unset, to
// DefaultEvalEverySteps (server/coordinator/evaluation_tracker.h).
inline constexpr int32_t kEpochs = 1;
inline constexpr int32_t kBatchSize = 32;
inline constexpr uint64_t kSeed = 1;
inline constexpr int32_t kThreads = 0;  // one per core
inline constexpr v1::Consistency kConsistency = v1::ASP;
inline constexpr int32_t kStaleness = 2;
inline constexpr int32_t kBackupWorkers = 0;
inline constexpr double kMaxLossFactor = 100;

// OptimizerConfig: torch.optim's defaults, except SGD's learning rate (torch
// has none) and Momentum's momentum (torch's 0 would be plain SGD).
inline constexpr double kSgdLearningRate = 0.1;
inline constexpr double kMomentumLearningRate = 0.1;
inline constexpr double kMomentum = 0.9;
inline constexpr double kAdagradLearningRate = 0.01;
inline constexpr double kAdagradEps = 1e-10;
inline constexpr double kRmspropLearningRate = 0.01;
inline constexpr double kRmspropAlpha = 0.99;
inline constexpr double kRmspropEps = 1e-8;
inline constexpr double kAdamLearningRate = 0.001;
inline constexpr double kAdamBeta1 = 0.9;
inline constexpr double kAdamBeta2 = 0.999;
inline constexpr double kAdamEps = 1e-8;
inline constexpr double kAdamWeightDecay = 0;
inline constexpr double kAdamwWeightDecay = 0.01;
inline constexpr double kFtrlLearningRate = 0.1;
inline constexpr double kFtrlBeta = 1;
inline constexpr double kFtrlLearningRatePower = -0.5;
// FedOptConfig (Reddi et al. 2021's server optimizers).
inline constexpr double kFedOptLearningRate = 0.01;
inline constexpr double kFedOptBeta1 = 0.9;
inline constexpr double kFedOptBeta2 = 0.99;
inline constexpr double kFedOptTau = 0.001;

// FederatedConfig and ClientPartitionConfig.
inline constexpr double kFederatedClientFraction = 0.1;
inline constexpr int64_t kFederatedRounds = 100;
// privacy.adaptive_clipping.clip_learning_rate (Andrew et al. 2021).
inline constexpr double kAdaptiveClipLearningRate = 0.2;
// DP-SGD's delta when privacy.delta is unset (TF Privacy's MNIST figures).
inline constexpr double kDpSgdDelta = 1e-5;
inline constexpr int kFederatedLocalEpochs = 1;
inline constexpr int kFederatedLocalBatchSize = 10;
inline constexpr double kFederatedLocalLearningRate = 0.1;
inline constexpr int64_t kFederatedEvalEveryRounds = 1;
inline constexpr double kFederatedSpeedMean = 1000;
inline constexpr int64_t kFederatedMinReports = 1;
inline constexpr int kFederatedMaxRoundAttempts = 10;
inline constexpr double kPartitionAlpha = 0.5;
inline constexpr int64_t kPartitionMinClientSize = 1;
inline constexpr int kPartitionShardsPerClient = 2;
inline constexpr double kPartitionExponent = 1.5;

// ScheduleConfig.
inline constexpr double kScheduleGamma = 0.1;
inline constexpr int64_t kScheduleStepSize = 1000;
inline constexpr int64_t kSchedulePeriod = 1000;
inline constexpr double kSchedulePeriodMultiplier = 1;
inline constexpr int64_t kScheduleInverseSqrtSteps = 1;

}  // namespace descent::defaults

#endif  // DESCENT_COMMON_DEFAULTS_H_
