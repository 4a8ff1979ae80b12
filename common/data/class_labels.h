// Class labels as a file writes them ("setosa", "-1", "3") and their
// encoding as the class ids 0..K-1 that models train on.
//
// A reader collects each file's distinct labels with a LabelDictionary,
// which gives every example a provisional id (its label's order of first
// appearance); EncodeClasses then fixes the final ids, and DataSource
// applies the same rule again to the union of the training and test files'
// labels, so the coordinator and every worker, each reading the same files,
// derive the same encoding.
//
// The rule (EncodeClasses): labels that are the whole numbers 0..K-1 keep
// their values (identity; class_names stays empty); so do whole numbers in
// [0, num_classes) when num_classes is given. Anything else, such as string
// labels, LIBSVM's 1..K or -1/+1, or integers with gaps, is encoded: the
// distinct labels sorted (numbers by value, before strings, which sort by
// byte) become 0..K-1, and class_names[c] is the label of class c. A set of
// -1/+1 labels always has both classes, even if one file holds only -1.
// Thread-compatible.
#ifndef DESCENT_COMMON_DATA_CLASS_LABELS_H_
#define DESCENT_COMMON_DATA_CLASS_LABELS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace descent {

// The canonical text of a label: a whole number as an integer ("2.0" and
// "+2" are "2"), anything else as written.
std::string CanonicalLabel(absl::string_view label);

// The distinct labels of a file, in order of first appearance.
class LabelDictionary {
 public:
  // The provisional id of `label` (canonical text), added if new.
  int32_t Add(const std::string& label);
  const std::vector<std::string>& labels() const { return labels_; }

 private:
  absl::flat_hash_map<std::string, int32_t> ids_;
  std::vector<std::string> labels_;
};

struct ClassEncoding {
  int32_t num_classes = 0;
  // class_of[i]: the class id of labels[i] as given to EncodeClasses.
  std::vector<int32_t> class_of;
  // Where labels were encoded, the label of each class; empty for identity.
  std::vector<std::string> class_names;
};

// Encodes the distinct canonical `labels` by the rule above; num_classes 0
// infers the count. INVALID_ARGUMENT, naming `source`, when num_classes is
// given and there are more distinct labels than that.
absl::StatusOr<ClassEncoding> EncodeClasses(
    const std::vector<std::string>& labels, int32_t num_classes,
    const std::string& source);

// The label of class `c` of a data set with `class_names` (as in Dataset):
// the name, or the id itself where class_names is empty.
std::string LabelOfClass(const std::vector<std::string>& class_names,
                         int32_t c);

// Finishes a reader's labels: replaces the provisional ids in data->labels
// (from `dictionary`) by the class ids EncodeClasses gives its labels, and
// sets data->num_classes and data->class_names. Data is Dataset or
// SparseDataset. On error, *data is unchanged.
template <typename Data>
absl::Status FinishClasses(const LabelDictionary& dictionary,
                           int32_t num_classes, const std::string& source,
                           Data* data) {
  absl::StatusOr<ClassEncoding> encoding =
      EncodeClasses(dictionary.labels(), num_classes, source);
  if (!encoding.ok()) return encoding.status();
  for (int32_t& label : data->labels) label = encoding->class_of[label];
  data->num_classes = encoding->num_classes;
  data->class_names = std::move(encoding->class_names);
  return absl::OkStatus();
}

// The provisional ids, in *all, of the labels of data's classes.
template <typename Data>
std::vector<int32_t> AddClasses(const Data& data, LabelDictionary* all) {
  const int32_t count = data.class_names.empty()
                            ? data.num_classes
                            : static_cast<int32_t>(data.class_names.size());
  std::vector<int32_t> ids;
  for (int32_t c = 0; c < count; ++c) {
    ids.push_back(all->Add(LabelOfClass(data.class_names, c)));
  }
  return ids;
}

// Gives data sets read from different files (training, test and
// validation files) one encoding of the labels of all, so that a label
// means the same class in each. On error (more labels than a given
// num_classes), the data sets are unchanged.
template <typename Data>
absl::Status UnifyClasses(int32_t num_classes, const std::string& source,
                          const std::vector<Data*>& sets) {
  LabelDictionary all;
  std::vector<std::vector<int32_t>> ids;
  for (const Data* data : sets) ids.push_back(AddClasses(*data, &all));
  absl::StatusOr<ClassEncoding> encoding =
      EncodeClasses(all.labels(), num_classes, source);
  if (!encoding.ok()) return encoding.status();
  for (size_t i = 0; i < sets.size(); ++i) {
    for (int32_t& label : sets[i]->labels) {
      label = encoding->class_of[ids[i][label]];
    }
    sets[i]->num_classes = encoding->num_classes;
    sets[i]->class_names = encoding->class_names;
  }
  return absl::OkStatus();
}

// The same for two.
template <typename Data>
absl::Status UnifyClasses(int32_t num_classes, const std::string& source,
                          Data* a, Data* b) {
  return UnifyClasses<Data>(num_classes, source, std::vector<Data*>{a, b});
}

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_CLASS_LABELS_H_
