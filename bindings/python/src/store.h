// store.h — the Python bindings of the storage layer and of memoization.
//
//   memokey._core.Store        a C++ Store (store.h) opened from a URL
//   memokey._core.seal / open_envelope / load_secret
//                              the signed value envelope (envelope.h)
//   memokey._core.MemoWrapper  the C++ half of memokey.memoize: the callable
//                              whose hot path (memory-tier hit) never enters
//                              Python code (memo.cc)
//
// module.cc calls memokey_bind_store(m) after the core functions are set up.

#ifndef MEMOKEY_PYTHON_STORE_H_
#define MEMOKEY_PYTHON_STORE_H_

#include <nanobind/nanobind.h>

#include <memory>
#include <string>

#include "memokey/status.h"
#include "memokey/store.h"
#include "memokey/tiered_store.h"

namespace memokey::py {

// The object behind memokey._core.Store.
struct PyStore {
  std::shared_ptr<Store> store;
  TieredStore* tiered = nullptr;  // store.get() when it is a tiered store
};

// Sets the Python exception for a failed status: ValueError for a bad
// argument or URL, ConnectionError for an unavailable server (strict
// stores), OSError for everything else. `what` prefixes the message.
void SetStatusError(const Status& status, const char* what);

// Registers Store, the envelope functions (store.cc) and MemoWrapper (memo.cc).
void BindMemo(nanobind::module_& m);

}  // namespace memokey::py

void memokey_bind_store(nanobind::module_& m);

#endif  // MEMOKEY_PYTHON_STORE_H_
