# Writes rack/version.h: the version from project(VERSION) and, in a git
# checkout, the commit built. Run at every build (see the top CMakeLists);
# configure_file leaves the header untouched when nothing changed, so
# nothing recompiles for it.
#   cmake -DVERSION=0.1.0 -DSOURCE_DIR=... -DOUT=.../rack/version.h -P version.cmake
set(RACK_REVISION "")
find_program(_git git)
if(_git)
  execute_process(COMMAND ${_git} -C ${SOURCE_DIR} rev-parse --short=12 HEAD
    OUTPUT_VARIABLE _rev OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc ERROR_QUIET)
  if(_rc EQUAL 0)
    set(RACK_REVISION "${_rev}")
    execute_process(COMMAND ${_git} -C ${SOURCE_DIR} status --porcelain --untracked-files=no
      OUTPUT_VARIABLE _dirty RESULT_VARIABLE _rc ERROR_QUIET)
    if(_rc EQUAL 0 AND NOT _dirty STREQUAL "")
      string(APPEND RACK_REVISION "-dirty")
    endif()
  endif()
endif()
set(RACK_VERSION "${VERSION}")
if(RACK_REVISION)
  set(RACK_VERSION_LINE "${VERSION} (${RACK_REVISION})")
else()
  set(RACK_VERSION_LINE "${VERSION}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/version.h.in ${OUT} @ONLY)
