// The one way lib creates a directory that holds what only this user may
// write: the disk store's directory, its lease directory, the secret's
// directory (not installed).

#ifndef MEMOKEY_SRC_STORE_PRIVATE_DIR_H_
#define MEMOKEY_SRC_STORE_PRIVATE_DIR_H_

#include <string>
#include <string_view>

#include "memokey/status.h"

namespace memokey::store_internal {

// mkdir -p `path`, creating missing directories with mode 0700. The final
// directory, new or found, must then be a directory that belongs to this
// (effective) user and that neither group nor others can write: whoever can
// write there can plant values, leases or a secret. IOError otherwise, its
// message "<what>: <path> ..." saying what to do; parents are created but not
// checked (/home, /tmp are shared by design).
Status MakePrivateDirs(const std::string& path, std::string_view what);

}  // namespace memokey::store_internal

#endif  // MEMOKEY_SRC_STORE_PRIVATE_DIR_H_
