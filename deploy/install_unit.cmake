# Runs at install time (install(CODE) in deploy/CMakeLists.txt), so the
# unit names the prefix actually installed to: `cmake --install build
# --prefix /opt/rack` gives ExecStart=/opt/rack/bin/rackd. DESTDIR (a
# staging root, as CPack uses) is not part of the paths in the unit.
# In: RACK_SRC, RACK_BINDIR, RACK_DOCDIR, RACK_UNIT_DIR (relative).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(RACK_SYSCONF_DIR /etc)
else()
  set(RACK_SYSCONF_DIR ${CMAKE_INSTALL_PREFIX}/etc)
endif()
set(RACK_BIN_DIR ${CMAKE_INSTALL_PREFIX}/${RACK_BINDIR})
set(RACK_DOC_DIR ${CMAKE_INSTALL_PREFIX}/${RACK_DOCDIR})
set(_unit $ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${RACK_UNIT_DIR}/rack.service)
configure_file(${RACK_SRC}/systemd/rack.service.in ${_unit} @ONLY)
message(STATUS "Installing: ${_unit}")
list(APPEND CMAKE_INSTALL_MANIFEST_FILES ${_unit})
# file(INSTALL) adds DESTDIR itself.
file(INSTALL ${RACK_SRC}/systemd/ecosystem.yaml DESTINATION ${RACK_SYSCONF_DIR}/rack)
