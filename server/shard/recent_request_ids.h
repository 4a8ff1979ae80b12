// Remembers the most recent request ids of each worker, so that a push the
// worker retried (after a timeout whose first attempt did arrive) is
// recognised and not applied twice.
//
// Why per worker and bounded: a worker has at most one push in flight per
// shard and retries it a few times, so only its last few ids can ever come
// back. Keeping `capacity` ids per worker (default 16) bounds memory at
// O(workers) while covering every retry the client makes. Ids older than
// that are forgotten; a worker never reuses an id.
//
// Thread-compatible: the owning shard calls it under its lock.
#ifndef DESCENT_SERVER_SHARD_RECENT_REQUEST_IDS_H_
#define DESCENT_SERVER_SHARD_RECENT_REQUEST_IDS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_map>

namespace descent {

class RecentRequestIds {
 public:
  explicit RecentRequestIds(int capacity = 16) : capacity_(capacity) {}

  // Records `request_id` for `worker_id`. Returns false if it was already
  // recorded (a duplicate), true if it is new.
  bool Insert(int32_t worker_id, uint64_t request_id);
  // Forgets `request_id` of `worker_id` (a push refused after Insert), so
  // that its retry is not taken for a duplicate.
  void Erase(int32_t worker_id, uint64_t request_id);

 private:
  const size_t capacity_;
  std::unordered_map<int32_t, std::deque<uint64_t>> ids_;
};

}  // namespace descent

#endif  // DESCENT_SERVER_SHARD_RECENT_REQUEST_IDS_H_
