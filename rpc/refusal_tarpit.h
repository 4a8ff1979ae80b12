// Answers refused calls late, so that a client that keeps sending calls
// the server refuses (a wrong token, a worker id the job does not have, a
// malformed request) cannot spend the server's CPU at the rate the server
// can refuse them. A closed-loop client (each call sent when the last is
// answered) is slowed to 1/delay calls a second; calls that are not
// refused never come here and are never delayed.
//
// Why bounded, and by what: a held call keeps its request in memory until
// it is answered, so the tarpit holds at most `max_calls` calls and
// `max_bytes` of their requests. Past either bound Hold() refuses to hold
// and the caller answers at once: memory stays bounded whatever the number
// of clients, at the price of answering the excess promptly.
//
// How: held answers wait in a queue (FIFO: every call is held for the same
// delay, so the first is always due first) that one thread answers when
// due. No thread waits per call. Close() answers everything held at once
// and holds nothing afterwards, so a server shutting down is not kept
// waiting by its tarpit.
//
// Thread-safe. Answers run on the tarpit's thread, never under its lock.
#ifndef DESCENT_RPC_REFUSAL_TARPIT_H_
#define DESCENT_RPC_REFUSAL_TARPIT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace descent {

struct RefusalTarpitOptions {
  // How long a refused call waits for its answer. 500 ms slows a
  // closed-loop client to 2 refusals a second, while a legitimate process
  // refused this way (wrong job, lost worker: it exits on the answer)
  // loses half a second once. Zero: every refusal is answered at once.
  absl::Duration delay = absl::Milliseconds(500);
  // Calls held at once, at most.
  int max_calls = 64;
  // Bytes of held calls' requests, at most: 64 MiB holds 64 pushes of a
  // 256K-float slice (1 MiB each), an eighth of the gRPC memory quota a
  // parameter server reads requests with (kServerMemoryQuotaBytes).
  int64_t max_bytes = int64_t{64} << 20;
};

class RefusalTarpit {
 public:
  explicit RefusalTarpit(RefusalTarpitOptions options);
  // Closes, answers what is still held, and joins the thread.
  ~RefusalTarpit();

  RefusalTarpit(const RefusalTarpit&) = delete;
  RefusalTarpit& operator=(const RefusalTarpit&) = delete;

  // Holds `answer` (a call whose request took `request_bytes`) and runs it
  // once `delay` has passed, or at Close. Returns false, and does not run
  // `answer`, if it cannot hold it: the delay is zero, the tarpit is full
  // (max_calls or max_bytes) or closed; the caller answers at once.
  bool Hold(int64_t request_bytes, std::function<void()> answer);

  // Answers every held call now (on the tarpit's thread) and holds no more.
  void Close();

  // Calls held now.
  int held() const;

 private:
  struct Held {
    absl::Time due;
    int64_t bytes;
    std::function<void()> answer;
  };

  // Answers each held call when due, until closed and empty.
  void Run();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the held calls due by now (all of them once closed).
  std::deque<Held> TakeDueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RefusalTarpitOptions options_;

  mutable absl::Mutex mu_;
  std::deque<Held> held_ ABSL_GUARDED_BY(mu_);
  int64_t held_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;

  // Not started when the delay is zero.
  std::thread thread_;
};

}  // namespace descent

#endif  // DESCENT_RPC_REFUSAL_TARPIT_H_
