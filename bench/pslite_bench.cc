// The ps-lite reference for issue 15's communication benchmark: dmlc/ps-lite's
// ZPush/ZPull over its ZeroMQ van, driven the way descent_pushpull_bench
// drives descent. Not part of descent's build: bench/pslite.sh builds ps-lite
// from its public source in a temporary folder and compiles this file against
// it. One binary for every node; ps-lite picks the role from DMLC_ROLE
// (scheduler, server, worker) and the cluster from DMLC_NUM_SERVER,
// DMLC_NUM_WORKER, DMLC_PS_ROOT_URI and DMLC_PS_ROOT_PORT.
//
// Server: a KVServer<float> whose handler sums pushes into its store
// (missing keys, or keys pushed with another length, start as zeros) and
// answers pulls with the stored values. A push with cmd kEmptyCmd is
// answered without touching the store (the "empty" handler).
//
// Worker, --mode=dense: per size B in --bytes, B/4 floats as one key per
// server (each server's key range begins at kMaxKey / S * i; lens gives
// each its B/4/S floats), ZPush + Wait then ZPull + Wait back to back for
// --seconds (at least --min_calls calls) after one untimed call. Workers
// start each size together (a ps-lite worker barrier). With one worker:
//
//   pslite bytes=B servers=S workers=1 calls=N push_p50_ms=.. pull_p50_ms=..
//     p50_ms=.. p90_ms=.. p99_ms=.. gbps=..
//
// p50/p90/p99 are of the push+pull round; gbps = 2 * B * calls / wall s.
// With W > 1 each worker prints its own `pslite_worker ... worker=R
// wall_s=..` line and, given --samples_dir, writes its per-call times there
// (dense_S<s>_W<w>_B<b>_r<rank>.txt: "wall_s X", then "push_ms pull_ms" per
// call) so that bench/pslite.sh merges them exactly.
//
// Worker, --mode=sparse: per K in --keys and D in --widths, K sorted keys
// spread evenly over the uint64 key space (each server gets its share),
// D floats each, ZPush + Wait only, with each handler in --handlers:
//
//   pslite_sparse keys=K width=D handler=sum servers=S calls=N p50_ms=..
//     p90_ms=..
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "ps/ps.h"

namespace {

using Clock = std::chrono::steady_clock;

// cmd of a push that the server answers without touching its store.
constexpr int kEmptyCmd = 1;

struct Options {
  std::string mode = "dense";  // dense or sparse
  double seconds = 2;          // timed seconds per configuration
  int min_calls = 5;           // at least this many timed calls
  std::vector<int64_t> bytes = {4096,    65536,    1048576,
                                4194304, 16777216, 67108864};
  std::vector<int64_t> keys = {1000, 10000, 100000, 1000000};
  std::vector<int64_t> widths = {1, 64};
  std::vector<std::string> handlers = {"sum", "empty"};
  std::string samples_dir;  // empty: no per-call files
};

std::vector<std::string> Split(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    if (end > start) out.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::vector<int64_t> Numbers(const std::string& list) {
  std::vector<int64_t> out;
  for (const std::string& item : Split(list)) {
    char* end = nullptr;
    long long n = std::strtoll(item.c_str(), &end, 10);
    CHECK(*end == '\0' && n > 0) << "bad number: " << item;
    out.push_back(n);
  }
  return out;
}

Options ParseFlags(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    size_t eq = arg.find('=');
    CHECK(arg.rfind("--", 0) == 0 && eq != std::string::npos)
        << "flags are --name=value, got " << arg;
    std::string name = arg.substr(2, eq - 2), value = arg.substr(eq + 1);
    if (name == "mode")
      options.mode = value;
    else if (name == "seconds")
      options.seconds = std::atof(value.c_str());
    else if (name == "min_calls")
      options.min_calls = std::atoi(value.c_str());
    else if (name == "bytes")
      options.bytes = Numbers(value);
    else if (name == "keys")
      options.keys = Numbers(value);
    else if (name == "widths")
      options.widths = Numbers(value);
    else if (name == "handlers")
      options.handlers = Split(value);
    else if (name == "samples_dir")
      options.samples_dir = value;
    else
      LOG(FATAL) << "unknown flag --" << name;
  }
  CHECK(options.mode == "dense" || options.mode == "sparse") << options.mode;
  return options;
}

// The summing server's store: each key's values live in one arena, so a
// push costs a hash lookup and an add per key, as in ps-lite's
// KVServerDefaultHandle (which holds one float per key).
class SummingStore {
 public:
  void Handle(const ps::KVMeta& meta, const ps::KVPairs<float>& data,
              ps::KVServer<float>* server) {
    if (meta.push && meta.cmd == kEmptyCmd) {
      server->Response(meta);
      return;
    }
    if (meta.push) Add(data);
    if (!meta.pull) {
      server->Response(meta);
      return;
    }
    server->Response(meta, Read(data.keys));
  }

 private:
  struct Slot {
    size_t offset;
    int len;
  };

  float* Find(ps::Key key, int len) {
    auto it = slots_.find(key);
    if (it == slots_.end() || it->second.len != len) {
      Slot slot{arena_.size(), len};
      arena_.resize(arena_.size() + len, 0.0f);
      it = slots_.insert_or_assign(key, slot).first;
    }
    return arena_.data() + it->second.offset;
  }

  void Add(const ps::KVPairs<float>& data) {
    size_t n = data.keys.size();
    if (n == 0) return;
    int width = data.lens.empty() ? data.vals.size() / n : 0;
    const float* in = data.vals.data();
    for (size_t i = 0; i < n; ++i) {
      int len = data.lens.empty() ? width : data.lens[i];
      float* out = Find(data.keys[i], len);
      for (int j = 0; j < len; ++j) out[j] += in[j];
      in += len;
    }
  }

  // Copies the values out (as KVServerDefaultHandle does), so that a push
  // from another worker cannot change a reply that is still being sent. A
  // key never pushed is answered with no values.
  ps::KVPairs<float> Read(const ps::SArray<ps::Key>& keys) {
    ps::KVPairs<float> res;
    res.keys = keys;
    res.lens.resize(keys.size());
    size_t total = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      auto it = slots_.find(keys[i]);
      res.lens[i] = it == slots_.end() ? 0 : it->second.len;
      total += res.lens[i];
    }
    res.vals.resize(total);
    float* out = res.vals.data();
    for (size_t i = 0; i < keys.size(); ++i) {
      if (res.lens[i] == 0) continue;
      const float* in = arena_.data() + slots_[keys[i]].offset;
      std::memcpy(out, in, res.lens[i] * sizeof(float));
      out += res.lens[i];
    }
    return res;
  }

  std::unordered_map<ps::Key, Slot> slots_;
  std::vector<float> arena_;
};

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Nearest-rank percentile of unsorted samples.
double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(p / 100.0 * v.size() + 0.999999);
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// Calls `call` (which returns its own times) back to back for
// options.seconds and at least options.min_calls times, after one untimed
// call that creates the keys on the servers. Returns the wall seconds.
// Workers meet before that call too: the dense sizes reuse the same keys
// with another length, and a worker still pulling the previous size must
// not see them change.
template <typename Call>
double TimeCalls(const Options& options, Call call) {
  ps::Postoffice::Get()->Barrier(0, ps::kWorkerGroup);
  call(/*timed=*/false);
  ps::Postoffice::Get()->Barrier(0, ps::kWorkerGroup);
  Clock::time_point start = Clock::now();
  Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(options.seconds));
  for (int calls = 0; calls < options.min_calls || Clock::now() < deadline;
       ++calls) {
    call(/*timed=*/true);
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void WriteSamples(const Options& options, int64_t bytes, double wall,
                  const std::vector<double>& push,
                  const std::vector<double>& pull) {
  if (options.samples_dir.empty()) return;
  std::string path =
      options.samples_dir + "/dense_S" + std::to_string(ps::NumServers()) +
      "_W" + std::to_string(ps::NumWorkers()) + "_B" + std::to_string(bytes) +
      "_r" + std::to_string(ps::MyRank()) + ".txt";
  FILE* f = std::fopen(path.c_str(), "w");
  CHECK(f) << "cannot write " << path;
  std::fprintf(f, "wall_s %.6f\n", wall);
  for (size_t i = 0; i < push.size(); ++i) {
    std::fprintf(f, "%.6f %.6f\n", push[i], pull[i]);
  }
  std::fclose(f);
}

void RunDense(const Options& options, ps::KVWorker<float>* kv) {
  const int servers = ps::NumServers(), workers = ps::NumWorkers();
  for (int64_t bytes : options.bytes) {
    const int64_t n = bytes / 4;
    CHECK_EQ(n % servers, 0) << bytes << " bytes do not split over servers";
    std::vector<ps::Key> key_list;
    std::vector<int> len_list;
    for (int i = 0; i < servers; ++i) {
      key_list.push_back(ps::kMaxKey / servers * i);
      len_list.push_back(static_cast<int>(n / servers));
    }
    ps::SArray<ps::Key> keys(key_list);
    ps::SArray<int> lens(len_list);
    ps::SArray<float> vals(n, 0.001f), out(n, 0.0f);
    std::vector<double> push, pull, round;
    double wall = TimeCalls(options, [&](bool timed) {
      Clock::time_point t0 = Clock::now();
      kv->Wait(kv->ZPush(keys, vals, lens));
      Clock::time_point t1 = Clock::now();
      kv->Wait(kv->ZPull(keys, &out));
      Clock::time_point t2 = Clock::now();
      if (!timed) return;
      push.push_back(Ms(t1 - t0));
      pull.push_back(Ms(t2 - t1));
      round.push_back(Ms(t2 - t0));
    });
    // With one worker every pushed value has been summed into the store
    // (1 + calls) times: the pull must read that back from every server.
    if (workers == 1) {
      float want = 0.001f * (1 + round.size());
      for (int64_t i : {int64_t{0}, n - 1}) {
        CHECK(std::abs(out[i] - want) <= 1e-2f * want)
            << "pulled " << out[i] << " at " << i << ", want " << want;
      }
    }
    WriteSamples(options, bytes, wall, push, pull);
    std::printf(
        "%s bytes=%lld servers=%d workers=%d%s calls=%zu%s push_p50_ms=%.4g "
        "pull_p50_ms=%.4g p50_ms=%.4g p90_ms=%.4g p99_ms=%.4g gbps=%.4g\n",
        workers == 1 ? "pslite" : "pslite_worker",
        static_cast<long long>(bytes), servers, workers,
        workers == 1 ? "" : (" worker=" + std::to_string(ps::MyRank())).c_str(),
        round.size(),
        workers == 1 ? "" : (" wall_s=" + std::to_string(wall)).c_str(),
        Percentile(push, 50), Percentile(pull, 50), Percentile(round, 50),
        Percentile(round, 90), Percentile(round, 99),
        2.0 * bytes * round.size() / wall / 1e9);
    std::fflush(stdout);
  }
}

void RunSparse(const Options& options, ps::KVWorker<float>* kv) {
  for (int64_t count : options.keys) {
    std::vector<ps::Key> key_list(count);
    for (int64_t i = 0; i < count; ++i) {
      key_list[i] = ps::kMaxKey / count * i;
    }
    ps::SArray<ps::Key> keys(key_list);
    for (int64_t width : options.widths) {
      ps::SArray<float> vals(count * width, 1.0f);
      for (const std::string& handler : options.handlers) {
        CHECK(handler == "sum" || handler == "empty") << handler;
        int cmd = handler == "empty" ? kEmptyCmd : 0;
        std::vector<double> times;
        TimeCalls(options, [&](bool timed) {
          Clock::time_point t0 = Clock::now();
          kv->Wait(kv->ZPush(keys, vals, {}, cmd));
          if (timed) times.push_back(Ms(Clock::now() - t0));
        });
        std::printf(
            "pslite_sparse keys=%lld width=%lld handler=%s servers=%d%s "
            "calls=%zu p50_ms=%.4g p90_ms=%.4g\n",
            static_cast<long long>(count), static_cast<long long>(width),
            handler.c_str(), ps::NumServers(),
            ps::NumWorkers() == 1
                ? ""
                : (" worker=" + std::to_string(ps::MyRank())).c_str(),
            times.size(), Percentile(times, 50), Percentile(times, 90));
        std::fflush(stdout);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options = ParseFlags(argc, argv);
  ps::Start(0, argv[0]);
  if (ps::IsServer()) {
    auto* server = new ps::KVServer<float>(0);
    auto* store = new SummingStore;
    server->set_request_handle(
        [store](const ps::KVMeta& meta, const ps::KVPairs<float>& data,
                ps::KVServer<float>* s) { store->Handle(meta, data, s); });
    ps::RegisterExitCallback([server, store] {
      delete server;
      delete store;
    });
  }
  // ps::Start's barrier comes before the KVServer exists: a worker's first
  // request could reach a server whose handler is not set yet (ps-lite then
  // fails "Check failed: request_handle_"). Servers and workers meet again
  // once every handler is in place.
  const int kServersAndWorkers = ps::kServerGroup + ps::kWorkerGroup;
  if (ps::IsServer()) ps::Postoffice::Get()->Barrier(0, kServersAndWorkers);
  if (ps::IsWorker()) {
    ps::KVWorker<float> kv(0, 0);
    ps::Postoffice::Get()->Barrier(0, kServersAndWorkers);
    if (options.mode == "dense")
      RunDense(options, &kv);
    else
      RunSparse(options, &kv);
  }
  ps::Finalize(0, true);
  return 0;
}
