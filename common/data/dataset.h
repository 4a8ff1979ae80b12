// The in-memory form of a labelled data set, as the readers in common/data
// produce it and the workers consume it. Plain data: no invariants are
// enforced here beyond what each reader documents, and no synchronization
// (share a Dataset across threads only for reading).
#ifndef DESCENT_COMMON_DATA_DATASET_H_
#define DESCENT_COMMON_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/partition.h"  // IndexRange

namespace descent {

// An in-memory labelled data set, features row-major: example i occupies
// features[i * num_features, (i + 1) * num_features). A classification set
// gives example i the label labels[i], in [0, num_classes), and leaves
// targets empty; a regression set gives it the real target targets[i],
// leaves labels empty and has num_classes 0.
struct Dataset {
  int64_t num_examples = 0;
  int64_t num_features = 0;
  int32_t num_classes = 0;
  std::vector<float> features;  // num_examples * num_features
  std::vector<int32_t> labels;  // num_examples; classification data
  std::vector<float> targets;   // num_examples; regression data
  // Classification data whose file labels were encoded (class_labels.h):
  // class_names[c] is the label class c stands for. Empty where class c
  // is written c.
  std::vector<std::string> class_names;

  // The features of example i; requires 0 <= i < num_examples.
  const float* example(int64_t i) const {
    return features.data() + i * num_features;
  }
};

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_DATASET_H_
