// Linked into every libFuzzer target: what the code under test logs is
// still formatted, but not written. The coordinator's notes and protobuf's
// parse errors on almost every input had filled the targets' logs at tens
// of megabytes a minute and slowed them several times over. LOG(FATAL),
// CHECK and the sanitizers still end the run with their report.
#include "glog/logging.h"
#include "google/protobuf/stubs/logging.h"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  FLAGS_minloglevel = google::GLOG_FATAL;
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}
