#include "server/shard/recent_request_ids.h"

#include <algorithm>

namespace descent {

bool RecentRequestIds::Insert(int32_t worker_id, uint64_t request_id) {
  std::deque<uint64_t>& ids = ids_[worker_id];
  if (std::find(ids.begin(), ids.end(), request_id) != ids.end()) return false;
  ids.push_back(request_id);
  if (ids.size() > capacity_) ids.pop_front();
  return true;
}

void RecentRequestIds::Erase(int32_t worker_id, uint64_t request_id) {
  auto it = ids_.find(worker_id);
  if (it == ids_.end()) return;
  std::deque<uint64_t>& ids = it->second;
  ids.erase(std::remove(ids.begin(), ids.end(), request_id), ids.end());
}

}  // namespace descent
