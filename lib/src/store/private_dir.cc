#include "private_dir.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace memokey::store_internal {

Status MakePrivateDirs(const std::string& path, std::string_view what) {
  const std::string prefix_text = std::string(what) + ": ";
  if (path.empty()) return Status::IOError(prefix_text + "empty directory path");
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::IOError(prefix_text + "cannot create directory " + prefix + ": " +
                             std::strerror(errno));
    }
    if (slash == std::string::npos) break;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::IOError(prefix_text + "cannot stat " + path + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::IOError(prefix_text + path +
                           " is not a directory; remove it or choose another path");
  }
  if (st.st_uid != ::geteuid()) {
    return Status::IOError(prefix_text + path + " belongs to another user (uid " +
                           std::to_string(st.st_uid) + "); use a directory of your own");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return Status::IOError(prefix_text + path + " is writable by group or others; chmod 700 it");
  }
  return Status::Ok();
}

}  // namespace memokey::store_internal
