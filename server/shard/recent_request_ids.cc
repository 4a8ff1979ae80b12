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

}  // namespace descent
