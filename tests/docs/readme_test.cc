// The README documents what a user can write and what the metrics show:
// every field of a JobConfig (and every enum value a field takes) is named
// in one of its code spans, and the gradient-norm layer names it gives are
// the ones the models produce.
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "common/model/model_factory.h"
#include "descent/v1/job.pb.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

namespace pb = google::protobuf;

std::string ReadReadme() {
  std::ifstream in(DESCENT_README);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The identifiers (letters, digits, '_' and '/') inside the README's
// `code spans` and ``` blocks.
std::set<std::string> CodeWords(const std::string& text) {
  std::set<std::string> words;
  bool in_code = false;
  std::string word;
  for (char c : text) {
    if (c == '`') {
      in_code = !in_code;
    } else if (in_code && (absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                           c == '_' || c == '/')) {
      word += c;
      continue;
    }
    if (!word.empty()) {
      words.insert(word);
      // "dense.idx/train" style runs: each part too.
      size_t start = 0;
      for (size_t slash = word.find('/'); slash != std::string::npos;
           slash = word.find('/', start)) {
        words.insert(word.substr(start, slash - start));
        start = slash + 1;
      }
      words.insert(word.substr(start));
      word.clear();
    }
  }
  return words;
}

void CollectFields(const pb::Descriptor* type,
                   std::set<const pb::Descriptor*>* seen,
                   std::vector<const pb::FieldDescriptor*>* fields) {
  if (!seen->insert(type).second) return;
  for (int i = 0; i < type->field_count(); ++i) {
    fields->push_back(type->field(i));
    if (type->field(i)->message_type() != nullptr) {
      CollectFields(type->field(i)->message_type(), seen, fields);
    }
  }
}

TEST(ReadmeTest, EveryConfigFieldAndEnumValueIsDocumented) {
  const std::set<std::string> words = CodeWords(ReadReadme());
  ASSERT_GT(words.size(), 100u) << "README not read from " << DESCENT_README;
  std::set<const pb::Descriptor*> seen;
  std::vector<const pb::FieldDescriptor*> fields;
  CollectFields(v1::JobConfig::descriptor(), &seen, &fields);
  for (const pb::FieldDescriptor* field : fields) {
    EXPECT_TRUE(words.count(field->name()))
        << field->full_name() << " is not named in a README code span";
    const pb::EnumDescriptor* values = field->enum_type();
    if (values == nullptr) continue;
    for (int i = 0; i < values->value_count(); ++i) {
      const std::string& name = values->value(i)->name();
      if (name.find("UNSPECIFIED") != std::string::npos) continue;
      EXPECT_TRUE(words.count(name))
          << values->full_name() << "." << name << " (" << field->full_name()
          << ") is not named in a README code span";
    }
  }
}

// descent_worker_gradient_norm's `layer` label is the tensor's name in the
// model's layout; the README gives examples of it.
TEST(ReadmeTest, GradientNormLayerNamesAreTheModelsOwn) {
  const std::set<std::string> words = CodeWords(ReadReadme());
  v1::ModelConfig mlp;
  mlp.mutable_mlp()->add_hidden(4);
  absl::StatusOr<ModelLayout> layout = BuildLayout(mlp, {3, 2});
  ASSERT_TRUE(layout.ok()) << layout.status();
  v1::ModelConfig softmax;
  softmax.mutable_softmax_regression();
  absl::StatusOr<ModelLayout> linear = BuildLayout(softmax, {3, 2});
  ASSERT_TRUE(linear.ok()) << linear.status();
  for (const ParamLayout* model : {&layout->dense, &linear->dense}) {
    for (const TensorSpec& tensor : model->tensors()) {
      EXPECT_TRUE(words.count(tensor.name))
          << "layer name " << tensor.name << " is not in the README";
    }
  }
}

}  // namespace
}  // namespace descent
