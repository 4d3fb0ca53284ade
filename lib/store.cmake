# memokey::store — key/value stores (memory, SQLite disk, Redis, tiered) and the
# signed value envelope. Depends on memokey::core, never the other way round.
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED CONFIG)  # Beast/Asio, header-only: the http:// client
# pkg-config for these: Debian's HiredisConfig.cmake defines no target (and
# fails without a requested version); SQLite's pkg-config file is the one
# Debian ships (CMake's FindSQLite3 would do too).
# GLOBAL: tests/cpp/store also uses hiredis and zstd directly, to inspect stored bytes.
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET GLOBAL sqlite3)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET GLOBAL hiredis)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET GLOBAL libzstd)

add_library(memokey_store
  src/store/store.cc
  src/store/store_spec.cc
  src/store/memory_store.cc
  src/store/disk_store.cc
  src/store/redis_store.cc
  src/store/redis_conn.cc
  src/store/redis_router.cc
  src/store/tiered_store.cc
  src/store/envelope.cc
  src/store/http_store.cc
  src/store/leases.cc
  src/store/private_dir.cc
  src/store/integrity.cc
)
add_library(memokey::store ALIAS memokey_store)
set_target_properties(memokey_store PROPERTIES EXPORT_NAME store OUTPUT_NAME memokey_store)
target_link_libraries(memokey_store
  PUBLIC memokey_core Threads::Threads
  PRIVATE PkgConfig::SQLITE3 PkgConfig::HIREDIS PkgConfig::ZSTD OpenSSL::Crypto
          $<BUILD_INTERFACE:Boost::headers>
          $<BUILD_INTERFACE:memokey_warnings>)

install(TARGETS memokey_store EXPORT memokeyTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})

