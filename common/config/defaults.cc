// ApplyDefaults and ApplyOptimizerDefaults (common/config.h): each absent
// optional field gets its value from common/defaults.h.
#include "common/defaults.h"

#include "common/config/config.h"
#include "common/federated/round_plan.h"
#include "common/optim/optimizer.h"

namespace descent {
// In the constants' namespace, so that each default reads as its name.
namespace defaults {
namespace {

void ApplyDataDefaults(v1::DataConfig* data) {
  if (data->has_idx() && !data->idx().has_num_classes()) {
    data->mutable_idx()->set_num_classes(kIdxNumClasses);
  }
  if (data->has_csv()) {
    v1::CsvDataConfig* csv = data->mutable_csv();
    if (!csv->has_test_every()) csv->set_test_every(kTestEvery);
    if (!csv->has_label_index()) csv->set_label_index(kCsvLabelIndex);
  }
  if (data->has_libsvm()) {
    v1::LibsvmDataConfig* libsvm = data->mutable_libsvm();
    if (!libsvm->has_test_every()) libsvm->set_test_every(kTestEvery);
    if (!libsvm->has_max_features()) {
      libsvm->set_max_features(kLibsvmMaxFeatures);
    }
  }
  if (data->has_ratings() && !data->ratings().has_test_every()) {
    data->mutable_ratings()->set_test_every(kTestEvery);
  }
  if (data->has_synthetic()) {
    v1::SyntheticDataConfig* s = data->mutable_synthetic();
    if (!s->has_train_examples())
      s->set_train_examples(kSyntheticTrainExamples);
    if (!s->has_test_examples()) s->set_test_examples(kSyntheticTestExamples);
    if (!s->has_features()) s->set_features(kSyntheticFeatures);
    if (!s->has_noise_stddev()) s->set_noise_stddev(kSyntheticNoiseStddev);
    if (!s->has_seed()) s->set_seed(kSyntheticSeed);
    if (!s->has_nnz_per_row()) s->set_nnz_per_row(kSyntheticNnzPerRow);
    if (!s->has_factor_dim()) s->set_factor_dim(kSyntheticFactorDim);
    if (!s->has_users()) s->set_users(kSyntheticUsers);
    if (!s->has_items()) s->set_items(kSyntheticItems);
    if (!s->has_rank()) s->set_rank(kSyntheticRank);
  }
}

v1::Activation DefaultActivation(v1::Activation activation) {
  return activation == v1::ACTIVATION_UNSPECIFIED ? kActivation : activation;
}

v1::InitRule DefaultInit(v1::InitRule init) {
  return init == v1::INIT_RULE_UNSPECIFIED ? kNetworkInit : init;
}

void ApplyCnnDefaults(v1::CnnConfig* cnn) {
  cnn->set_init(DefaultInit(cnn->init()));
  for (v1::LayerConfig& layer : *cnn->mutable_layers()) {
    if (layer.has_conv()) {
      v1::ConvConfig* conv = layer.mutable_conv();
      if (!conv->has_stride()) conv->set_stride(kConvStride);
      conv->set_activation(DefaultActivation(conv->activation()));
    } else if (layer.has_max_pool() && !layer.max_pool().has_stride()) {
      layer.mutable_max_pool()->set_stride(layer.max_pool().size());
    } else if (layer.has_dense()) {
      layer.mutable_dense()->set_activation(
          DefaultActivation(layer.dense().activation()));
    }
  }
}

void ApplyModelDefaults(v1::ModelConfig* model) {
  if (model->has_softmax_regression() &&
      model->softmax_regression().weight_init() == v1::INIT_RULE_UNSPECIFIED) {
    model->mutable_softmax_regression()->set_weight_init(kSoftmaxWeightInit);
  }
  if (model->has_mlp()) {
    v1::MlpConfig* mlp = model->mutable_mlp();
    mlp->set_activation(DefaultActivation(mlp->activation()));
    mlp->set_init(DefaultInit(mlp->init()));
    for (v1::DenseConfig& layer : *mlp->mutable_layers()) {
      if (layer.activation() == v1::ACTIVATION_UNSPECIFIED) {
        layer.set_activation(mlp->activation());
      }
    }
  }
  if (model->has_cnn()) ApplyCnnDefaults(model->mutable_cnn());
  if (model->has_factorization_machine()) {
    v1::FactorizationMachineConfig* fm = model->mutable_factorization_machine();
    if (!fm->has_factor_dim()) fm->set_factor_dim(kFmFactorDim);
    if (!fm->has_init_stddev()) fm->set_init_stddev(kFmInitStddev);
  }
  if (model->has_matrix_factorization()) {
    v1::MatrixFactorizationConfig* mf = model->mutable_matrix_factorization();
    if (!mf->has_rank()) mf->set_rank(kMfRank);
    if (!mf->has_biases()) mf->set_biases(kMfBiases);
    if (!mf->has_init_stddev()) mf->set_init_stddev(kMfInitStddev);
  }
}

void ApplyClusterDefaults(v1::ClusterConfig* cluster) {
  if (!cluster->has_num_servers()) cluster->set_num_servers(kNumServers);
  if (!cluster->has_num_workers()) cluster->set_num_workers(kNumWorkers);
  if (!cluster->has_heartbeat_timeout_seconds()) {
    cluster->set_heartbeat_timeout_seconds(kHeartbeatTimeoutSeconds);
  }
  if (!cluster->has_registration_timeout_seconds()) {
    cluster->set_registration_timeout_seconds(kRegistrationTimeoutSeconds);
  }
  if (!cluster->has_max_worker_restarts()) {
    cluster->set_max_worker_restarts(kMaxWorkerRestarts);
  }
  if (!cluster->has_max_workers()) {
    cluster->set_max_workers(cluster->num_workers() + kJoinSlots);
  }
  if (cluster->lost_worker_data() == v1::LOST_WORKER_DATA_UNSPECIFIED) {
    cluster->set_lost_worker_data(kLostWorkerData);
  }
  if (!cluster->has_max_server_restarts()) {
    cluster->set_max_server_restarts(kMaxServerRestarts);
  }
  if (!cluster->has_rpc_deadline_seconds()) {
    cluster->set_rpc_deadline_seconds(kRpcDeadlineSeconds);
  }
  if (!cluster->has_shared_memory()) cluster->set_shared_memory(true);
  if (!cluster->has_max_sparse_rows_per_shard()) {
    cluster->set_max_sparse_rows_per_shard(kMaxSparseRowsPerShard);
  }
}

void ApplyTrainDefaults(v1::TrainConfig* train) {
  if (!train->has_epochs()) train->set_epochs(kEpochs);
  if (!train->has_batch_size()) train->set_batch_size(kBatchSize);
  if (!train->has_seed()) train->set_seed(kSeed);
  if (!train->has_threads()) train->set_threads(kThreads);
  // eval_every_steps stays unset: the coordinator derives it from the
  // job's total steps (DefaultEvalEverySteps in
  // server/coordinator/evaluation_tracker.h).
  if (train->consistency() == v1::CONSISTENCY_UNSPECIFIED) {
    train->set_consistency(kConsistency);
  }
  v1::CommunicationConfig* communication = train->mutable_communication();
  if (!communication->has_push_every()) communication->set_push_every(1);
  if (!train->has_overlap_communication()) {
    // Local SGD pushes every push_every steps without overlap.
    train->set_overlap_communication(CanOverlapPushes(train->consistency()) &&
                                     communication->push_every() <= 1);
  }
  if (!train->has_staleness()) train->set_staleness(kStaleness);
  if (!train->has_backup_workers()) train->set_backup_workers(kBackupWorkers);
  if (!train->has_max_loss_factor()) train->set_max_loss_factor(kMaxLossFactor);
}

void ApplyJob(v1::JobConfig* config) {
  const bool federated_joins = config->cluster().has_max_workers();
  if (config->has_federated()) {
    // A round is a BSP step; per-round evaluations are the rounds'
    // (FederatedConfig.eval_every_rounds), the coordinator's only the final.
    v1::TrainConfig* train = config->mutable_train();
    if (train->consistency() == v1::CONSISTENCY_UNSPECIFIED) {
      train->set_consistency(v1::BSP);
    }
    if (!train->has_eval_every_steps()) train->set_eval_every_steps(0);
  }
  ApplyClusterDefaults(config->mutable_cluster());
  if (config->has_federated() && !federated_joins) {
    // The clients are hosted by the configured workers: none joins.
    config->mutable_cluster()->set_max_workers(config->cluster().num_workers());
  }
  ApplyDataDefaults(config->mutable_data());
  ApplyModelDefaults(config->mutable_model());
  ApplyTrainDefaults(config->mutable_train());
  if (config->has_optimizer()) {
    ApplyOptimizerDefaults(config->mutable_optimizer());
  }
  ApplyFederatedDefaults(config);
  ApplyPrivacyDefaults(config);
  ApplyRobustDefaults(config);
  ApplySecureDefaults(config);
  v1::CommunicationConfig* communication =
      config->mutable_train()->mutable_communication();
  if (communication->push_every() > 1 &&
      !communication->has_local_learning_rate()) {
    communication->set_local_learning_rate(
        ChosenLearningRate(config->optimizer()));
  }
}

}  // namespace
}  // namespace defaults

void ApplyDefaults(v1::JobConfig* config) { defaults::ApplyJob(config); }

}  // namespace descent
