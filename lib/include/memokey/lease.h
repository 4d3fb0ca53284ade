// memokey/lease.h — leases: single flight across processes and machines.
//
// A lease is a claim on one key of a Store (store.h): "I am computing this
// value, wait for it". The memoizers take one after a miss, so that N callers
// of a cold key in N processes (or machines) compute it once:
//
//   LeaseResult lease;
//   store.AcquireLease(key, {}, &lease);
//   kValue    -> use lease.value (it was there, or landed while we waited)
//   kGranted  -> compute, Put(key, value), ReleaseLease(key, lease.token);
//                on failure: ReleaseLease at once, so the next caller starts
//   kTimedOut / kUnsupported / an error status -> compute anyway
//
// Contract
//   * At most one holder per key at a time while the lease lives; only the
//     holder (its token) releases it.
//   * A lease whose holder dies ends by itself — when its ttl passes (Redis,
//     memokeyd, memory), or at once when the OS releases the holder's lock
//     (disk: flock).
//   * A lease is advisory: a holder slower than the ttl loses it and a second
//     caller may compute too — a duplicate computation, never a wrong value.
//   * Waiters wake when the holder releases (pub/sub on Redis, a condition
//     variable in process, polling of the lock file on disk) and re-check the
//     value; polling is only a fallback bounded by the lease's remaining time.
//   * A store without leases answers kUnsupported (single flight stays per
//     process); an unreachable backend gives Status::Unavailable: compute anyway.

#ifndef MEMOKEY_LEASE_H_
#define MEMOKEY_LEASE_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace memokey {

struct LeaseOptions {
  std::chrono::milliseconds ttl{60000};   // the lease ends by itself after this
  std::chrono::milliseconds wait{60000};  // the longest AcquireLease waits for another holder
  // Look the value up before granting (and return kValue if it is there).
  // false: only the lease is tried — for refreshing a stale value.
  bool check_value = true;
};

struct LeaseResult {
  enum class State : std::uint8_t { kUnsupported, kGranted, kValue, kTimedOut };
  State state = State::kUnsupported;
  std::string token;                      // kGranted: what ReleaseLease needs
  std::string value;                      // kValue
  std::chrono::milliseconds ttl_left{0};  // kValue: as GetWithTtl reports it
  bool waited = false;                    // another holder was seen
};

}  // namespace memokey

#endif  // MEMOKEY_LEASE_H_
