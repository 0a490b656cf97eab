# ctest runs each doctest case by name, and a ';' in a name splits it into
# two ctest entries that match no case: they run nothing and pass. Fails
# naming every TEST_CASE whose name holds one.
file(GLOB _files ${DIR}/unit/*.cc ${DIR}/integration/*.cc)
set(_bad "")
foreach(_f IN LISTS _files)
  file(STRINGS ${_f} _lines REGEX "TEST_CASE\\(\"[^\"]*;")
  foreach(_l IN LISTS _lines)
    string(APPEND _bad "\n  ${_f}: ${_l}")
  endforeach()
endforeach()
if(_bad)
  message(FATAL_ERROR "test names with ';' (use ','):${_bad}")
endif()
