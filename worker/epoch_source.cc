#include "worker/epoch_source.h"

namespace descent {
namespace {

class Fixed final : public EpochSource {
 public:
  Fixed(EpochData data, int epochs) : data_(data), epochs_(epochs) {}

  absl::StatusOr<std::optional<EpochData>> Epoch(int epoch) override {
    if (epoch < 0 || epoch >= epochs_) return std::nullopt;
    return data_;
  }

 private:
  const EpochData data_;
  const int epochs_;
};

}  // namespace

std::unique_ptr<EpochSource> FixedEpochs(EpochData data, int epochs) {
  return std::make_unique<Fixed>(data, epochs);
}

}  // namespace descent
