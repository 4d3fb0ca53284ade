# Finds every third-party dependency the enabled parts of the build need, up
# front and quietly, then stops ONCE with a list of everything that is missing:
# the Debian package to install for each, what needs it, and `scripts/setup`.
# Without this a fresh machine hits one raw CMake error at a time (libxxhash,
# then hiredis, zstd, ssl, boost, ...), none of which names a package.
#
# The per-directory find_package / pkg_check_modules calls (lib/store.cmake,
# server/, cli/, tests/) stay as they are: once this check has passed they find
# the same things again and create their imported targets.
#
# Which build needs what (the same table is printed in the error message):
#   Python package (pip install .): pkg-config, libxxhash-dev, libsqlite3-dev,
#     libhiredis-dev, libzstd-dev, libssl-dev, libboost1.81-dev (headers only),
#     python3-dev and the nanobind Python package;
#   the memokey CLI also needs libcli11-dev; memokeyd libcli11-dev and
#     libtomlplusplus-dev; the C++ tests libgtest-dev, libgmock-dev and python3;
#     the benchmarks libbenchmark-dev.

set(_memokey_missing_pkgs "")   # Debian package names, for the apt-get line
set(_memokey_missing_lines "")  # one formatted line per missing package

# Records one missing dependency. PKG is the Debian package (or a pip one, with
# INSTALL giving the command), WHAT says what it is and NEEDED_BY which part of
# the build needs it.
function(_memokey_missing pkg what needed_by)
  cmake_parse_arguments(arg "" "INSTALL" "" ${ARGN})
  string(LENGTH "${pkg}" len)
  math(EXPR pad "22 - ${len}")
  if(pad LESS 1)
    set(pad 1)
  endif()
  string(REPEAT " " ${pad} spaces)
  set(line "    ${pkg}${spaces}${what} (needed by: ${needed_by})")
  if(arg_INSTALL)
    string(APPEND line " -- ${arg_INSTALL}")
  else()
    set(_memokey_missing_pkgs ${_memokey_missing_pkgs} ${pkg} PARENT_SCOPE)
  endif()
  set(_memokey_missing_lines ${_memokey_missing_lines} "${line}" PARENT_SCOPE)
endfunction()

# The parts of the build that are on, as the "needed by" text of the core deps.
set(_memokey_users "library")
if(MEMOKEY_BUILD_PYTHON)
  string(APPEND _memokey_users ", Python package")
endif()
if(MEMOKEY_BUILD_CLI)
  string(APPEND _memokey_users ", CLI")
endif()
if(MEMOKEY_BUILD_SERVER)
  string(APPEND _memokey_users ", memokeyd")
endif()

# --- pkg-config modules: the library's C dependencies -------------------------
find_package(PkgConfig QUIET)
if(NOT PKG_CONFIG_FOUND)
  _memokey_missing(pkg-config "pkg-config, which finds the C libraries below" "${_memokey_users}")
endif()

# _memokey_pkg(<prefix> <pkg-config module> <header> <debian package> <what>)
# With pkg-config the module decides; without it, whether the header exists
# (so a missing pkg-config does not make every library look missing too).
function(_memokey_pkg prefix module header debpkg what)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(_MEMOKEY_DEP_${prefix} QUIET ${module})
    set(found ${_MEMOKEY_DEP_${prefix}_FOUND})
  else()
    find_path(_MEMOKEY_DEP_${prefix}_INCLUDE_DIR ${header})
    set(found ${_MEMOKEY_DEP_${prefix}_INCLUDE_DIR})
  endif()
  if(NOT found)
    _memokey_missing(${debpkg} "${what}" "${_memokey_users}")
    set(_memokey_missing_pkgs ${_memokey_missing_pkgs} PARENT_SCOPE)
    set(_memokey_missing_lines ${_memokey_missing_lines} PARENT_SCOPE)
  endif()
endfunction()

_memokey_pkg(XXHASH libxxhash xxhash.h libxxhash-dev "xxHash headers: XXH3-128 keys")
_memokey_pkg(SQLITE3 sqlite3 sqlite3.h libsqlite3-dev "SQLite: the disk:// store")
_memokey_pkg(HIREDIS hiredis hiredis/hiredis.h libhiredis-dev "hiredis: the redis:// store")
_memokey_pkg(ZSTD libzstd zstd.h libzstd-dev "zstd: compressed values")

# --- CMake packages -------------------------------------------------------------
find_package(OpenSSL QUIET COMPONENTS Crypto)
if(NOT OpenSSL_FOUND)
  _memokey_missing(libssl-dev "OpenSSL libcrypto: HMAC envelope, SHA-256 keys" "${_memokey_users}")
endif()

# Asio/Beast (the http:// store, memokeyd) and Boost.JSON (CLI, tests), headers only.
find_package(Boost 1.81 QUIET CONFIG)
if(NOT Boost_FOUND)
  _memokey_missing(libboost1.81-dev "Boost >= 1.81 headers: the http:// store" "${_memokey_users}")
endif()

if(MEMOKEY_BUILD_CLI OR MEMOKEY_BUILD_SERVER)
  find_package(CLI11 QUIET CONFIG)
  if(NOT CLI11_FOUND)
    set(users "")
    if(MEMOKEY_BUILD_CLI)
      list(APPEND users CLI)
    endif()
    if(MEMOKEY_BUILD_SERVER)
      list(APPEND users memokeyd)
    endif()
    list(JOIN users ", " users)
    _memokey_missing(libcli11-dev "CLI11: command-line parsing" "${users}")
  endif()
endif()

if(MEMOKEY_BUILD_SERVER)
  find_package(tomlplusplus QUIET)
  if(NOT tomlplusplus_FOUND)
    _memokey_missing(libtomlplusplus-dev "toml++: the memokeyd config file" memokeyd)
  endif()
endif()

if(MEMOKEY_BUILD_TESTS)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    _memokey_missing(libgtest-dev "GoogleTest" "C++ tests")
  endif()
  if(NOT TARGET GTest::gmock)
    _memokey_missing(libgmock-dev "GoogleMock" "C++ tests")
  endif()
  find_package(Python3 QUIET COMPONENTS Interpreter)
  if(NOT Python3_Interpreter_FOUND)
    _memokey_missing(python3 "Python 3: integration and fault suites" "C++ tests")
  endif()
endif()

if(MEMOKEY_BUILD_BENCH)
  find_package(benchmark QUIET)
  if(NOT benchmark_FOUND)
    _memokey_missing(libbenchmark-dev "Google Benchmark" benchmarks)
  endif()
endif()

if(MEMOKEY_BUILD_PYTHON)
  find_package(Python 3.10 QUIET COMPONENTS Interpreter Development.Module)
  if(NOT Python_Development.Module_FOUND)
    _memokey_missing(python3-dev "Python >= 3.10 headers (Python.h)" "Python package")
  endif()
  # nanobind is a pip package: ask the Python that builds the extension.
  # bindings/python uses the nanobind_ROOT found here.
  set(_memokey_nanobind_found FALSE)
  if(Python_Interpreter_FOUND AND NOT nanobind_DIR AND NOT nanobind_ROOT)
    execute_process(
      COMMAND "${Python_EXECUTABLE}" -m nanobind --cmake_dir
      OUTPUT_STRIP_TRAILING_WHITESPACE
      OUTPUT_VARIABLE _memokey_nanobind_dir
      ERROR_QUIET
      RESULT_VARIABLE _memokey_nanobind_rc)
    if(_memokey_nanobind_rc EQUAL 0)
      set(nanobind_ROOT "${_memokey_nanobind_dir}")
    endif()
  endif()
  if(nanobind_DIR OR nanobind_ROOT)
    set(_memokey_nanobind_found TRUE)
  endif()
  if(NOT _memokey_nanobind_found)
    if(Python_Interpreter_FOUND)
      set(install_nanobind "${Python_EXECUTABLE} -m pip install nanobind")
    else()
      set(install_nanobind "python3 -m pip install nanobind")
    endif()
    _memokey_missing(nanobind "nanobind: the Python binding library" "Python package"
                     INSTALL "${install_nanobind}")
  endif()
endif()

# --- one error listing everything --------------------------------------------------
if(_memokey_missing_lines)
  list(LENGTH _memokey_missing_lines _memokey_count)
  list(JOIN _memokey_missing_lines "\n" _memokey_table)
  if(_memokey_missing_pkgs)
    list(JOIN _memokey_missing_pkgs " " _memokey_apt)
    set(_memokey_apt_line "  or just these: sudo apt-get install ${_memokey_apt}\n")
  else()
    set(_memokey_apt_line "")
  endif()
  # Lines indented by spaces are printed as they are (CMake re-wraps the others).
  message(FATAL_ERROR
    "memokey: ${_memokey_count} build dependencies are missing:\n"
    "${_memokey_table}\n"
    "\n"
    "  Install them all at once with scripts/setup (Debian bookworm; installs what is missing, nothing else),\n"
    "${_memokey_apt_line}"
    "\n"
    "  Which build needs what:\n"
    "    Python package (pip install .): pkg-config libxxhash-dev libsqlite3-dev libhiredis-dev\n"
    "      libzstd-dev libssl-dev libboost1.81-dev python3-dev, and nanobind from PyPI;\n"
    "      (a manylinux wheel needs none of them: its libraries are bundled)\n"
    "    memokey CLI: those C++ libraries (not python3-dev/nanobind) + libcli11-dev\n"
    "    memokeyd: those + libcli11-dev libtomlplusplus-dev\n"
    "    C++ tests: + libgtest-dev libgmock-dev python3; benchmarks: + libbenchmark-dev\n"
    "  Parts you do not need can be turned off: -DMEMOKEY_BUILD_SERVER=OFF -DMEMOKEY_BUILD_CLI=OFF\n"
    "  -DMEMOKEY_BUILD_TESTS=OFF -DMEMOKEY_BUILD_BENCH=OFF.")
endif()
