// memokey/store_manage.h — managing a whole store through the Store interface:
// pruning expired and least recently used entries, and deleting one label's
// entries (the `memokey cache` command, f.cache_clear()). Not on the hot path.
//
// Contract: both run over Store::Scan and Store::Delete, so they work on every
// store that can Scan and answer Scan's error (Status::Error) on the others;
// entries written meanwhile may survive or be deleted (a recomputation, never
// a wrong value); progress may stop them between batches (then OK: what was
// done stays done).

#ifndef MEMOKEY_STORE_MANAGE_H_
#define MEMOKEY_STORE_MANAGE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memokey/status.h"
#include "memokey/store.h"

namespace memokey {

// What PruneStore did.
struct PruneResult {
  std::uint64_t expired = 0;       // expired entries removed
  std::uint64_t evicted = 0;       // live entries removed to meet max_bytes
  std::uint64_t entries_left = 0;  // entries seen and kept
  std::uint64_t bytes_left = 0;    // their key + value bytes
};

// Removes the expired entries Scan reports, then, when max_bytes is given,
// live entries -- least recently used first (the largest idle first; where
// the store does not know, in scan order) -- until the key + value bytes of
// the rest are at most max_bytes. One implementation over Scan and Delete
// for every store that can Scan: an entry written again between the scan
// and its deletion is deleted too (a recomputation, never a wrong value).
// progress: called every few hundred deletions with the number done.
Status PruneStore(Store& store, std::optional<std::uint64_t> max_bytes, PruneResult* out,
                  const StoreProgress& progress = {});

// What ClearLabelled did.
struct ClearLabelledResult {
  std::uint64_t removed = 0;  // entries deleted (from every tier they were in)
  // Describe() of the tiers of a tiered store that cannot list their
  // entries (http://, redis+cluster://): entries of the label that only
  // they hold stay there.
  std::vector<std::string> unlisted;
};

// Deletes the entries whose value is an envelope (envelope.h) with a label
// `match` accepts: what `f.cache_clear()` and `memokey cache clear
// --function` run to find one function's entries in a shared store. One
// implementation over Scan (with heads: PeekEnvelopeLabel, which does not
// check MACs -- a forged label can at worst get an entry deleted) and Delete
// for every store that can Scan; unlabelled values (envelope version 1, not
// envelopes) never match. A tiered store is scanned tier by tier, tiers that
// cannot list are skipped (out->unlisted), and a matching key is deleted
// from the whole store, so from the unlisted tiers too where they hold it.
// Status::Error when the store (or every tier) cannot list. Entries written
// meanwhile may survive. progress: as for PruneStore.
Status ClearLabelled(Store& store, const std::function<bool(std::string_view label)>& match,
                     ClearLabelledResult* out, const StoreProgress& progress = {});

}  // namespace memokey

#endif  // MEMOKEY_STORE_MANAGE_H_
