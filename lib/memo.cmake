# memokey::memo — memoizing functions over a store. Above memokey::store.
add_library(memokey_memo src/memo/engine.cc src/memo/memo.cc)
add_library(memokey::memo ALIAS memokey_memo)
set_target_properties(memokey_memo PROPERTIES EXPORT_NAME memo OUTPUT_NAME memokey_memo)
target_link_libraries(memokey_memo PUBLIC memokey_store PRIVATE $<BUILD_INTERFACE:memokey_warnings>)
install(TARGETS memokey_memo EXPORT memokeyTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
