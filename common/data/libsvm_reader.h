// Reading the LIBSVM / SVMlight text format: one example per line,
//   <label> [qid:<n>] <index>:<value> <index>:<value> ... [# comment]
// separated by spaces or tabs. qid (SVMlight's query id) is checked to be an
// integer and otherwise ignored. Indices must be strictly increasing within
// a line; features not listed are 0. Blank and comment-only lines are
// skipped; lines may end in "\n" or "\r\n". The file may be
// gzip-compressed. It is streamed once. Thread-safe: the functions here
// share no state.
//
// Index base. LibsvmOptions::zero_based says; unset, as scikit-learn does:
// the file is 0-based if index 0 occurs in it, else 1-based (LIBSVM's
// convention). LibsvmIndexBase reports which was assumed.
//
// Labels. Regression: any finite real. Classification: whole numbers ("2"
// or "2.0"), made class ids by EncodeClasses (class_labels.h): labels
// 0..K-1 stay as they are; anything else, such as -1/+1 (the binary
// convention: class 0 and class 1) or 1..K, is encoded in sorted order,
// the labels kept in class_names.
//
// Every error names the file and, where one line is at fault, its 1-based
// line number and the offending token, e.g.
//   "train.svm:7: feature index 0 in \"0:1.5\" is invalid: indices are
//    1-based (set zero_based: true for 0-based files)"
// Codes:
//   errno's canonical code (NOT_FOUND, ...)  the file cannot be opened/read
//   DATA_LOSS         a corrupt or truncated gzip stream
//   INVALID_ARGUMENT  bad options; no examples; a bad label; a token not of
//                     the form index:value; an index that is negative, 0 in
//                     a 1-based file, not above the previous one, or not
//                     below a given num_features or max_features; a NaN
//                     or infinite value
//   RESOURCE_EXHAUSTED  (ReadLibsvmDense) the dense form would exceed
//                     kMaxDenseLibsvmFloats
#ifndef DESCENT_COMMON_DATA_LIBSVM_READER_H_
#define DESCENT_COMMON_DATA_LIBSVM_READER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "common/data/sparse_dataset.h"

namespace descent {

struct LibsvmOptions {
  // Indices in the file start at 0 (true) or at LIBSVM's usual 1 (false);
  // unset: 0 if index 0 occurs in the file, else 1. Either way, the
  // SparseDataset's indices are 0-based.
  std::optional<bool> zero_based;
  // Width of the feature space; every index must fall inside it. 0 infers
  // it as the largest index + 1 (0-based) or the largest index (1-based).
  int64_t num_features = 0;
  // The label is a real target (targets; num_classes must stay 0) rather
  // than a class id (labels).
  bool regression = false;
  // Classification only: the number of classes; labels 0..K-1 must be
  // below it. 0 infers it from the labels (see above).
  int32_t num_classes = 0;
  // A cap on the feature space: an index (0-based) at or beyond it is an
  // error at its line, so that one stray index cannot size a model or a
  // dense copy of the data. 0: no cap beyond int64. max_features_field
  // names the setting in that error (e.g. "data.libsvm.max_features").
  int64_t max_features = 0;
  std::string max_features_field = "max_features";
};

// How a file's indices were read.
struct LibsvmIndexBase {
  bool zero_based = false;
  // The first line where index 0 occurs; 0 if it never does.
  int64_t zero_line = 0;
};

// Reads the whole file at `path` into a SparseDataset, values as written
// (explicit zeros are kept), and, if `base` is given, says which index base
// was used. See above for the errors; on error nothing is returned.
absl::StatusOr<SparseDataset> ReadLibsvm(const std::string& path,
                                         const LibsvmOptions& options,
                                         LibsvmIndexBase* base = nullptr);

// The largest num_examples * num_features that ReadLibsvmDense will store
// (8 GiB of floats): beyond it, use ReadLibsvm.
constexpr int64_t kMaxDenseLibsvmFloats = int64_t{1} << 31;

// ReadLibsvm, then ToDense (sparse_dataset.h): every feature stored,
// row-major. Fails with RESOURCE_EXHAUSTED, naming the file, where that
// would take more than kMaxDenseLibsvmFloats floats.
absl::StatusOr<Dataset> ReadLibsvmDense(const std::string& path,
                                        const LibsvmOptions& options);

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_LIBSVM_READER_H_
