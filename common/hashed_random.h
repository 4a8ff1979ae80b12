// Counter-based random numbers: values that are pure functions of their
// inputs (a seed and an index, or a key and a column), so that any process
// computes any element alone and gets what every other process gets.
// Parameter initialization (param_layout.cc, sparse_model.cc) builds on
// these. Pure functions; thread-safe.
#ifndef DESCENT_COMMON_HASHED_RANDOM_H_
#define DESCENT_COMMON_HASHED_RANDOM_H_

#include <cmath>
#include <cstdint>
#include <string_view>

namespace descent {

// 64-bit FNV-1a of `text`: stable across builds, machines and runs (unlike
// std::hash or absl::Hash), for identifiers that are written down (the
// config hash, the model's data fingerprint).
inline uint64_t Fnv1a64(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325u;
  for (const unsigned char c : text) hash = (hash ^ c) * 0x100000001b3u;
  return hash;
}

// The splitmix64 finalizer (Steele, Lea, Flood 2014): a bijective mix of
// all 64 bits.
inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// The top 53 bits of `bits` as a double in the open interval (0, 1).
inline double UnitInterval(uint64_t bits) {
  return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53;
}

// A standard normal from two uniforms in (0, 1), by Box-Muller.
inline double BoxMuller(double u1, double u2) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

}  // namespace descent

#endif  // DESCENT_COMMON_HASHED_RANDOM_H_
