#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

int main(int argc, char** argv) {
  // Every rackd a test starts takes a free admin port unless its ecosystem
  // names one, so tests run side by side (ctest -j) never meet on
  // 127.0.0.1:9650. A test that needs RACK_ADMIN otherwise sets it itself.
  setenv("RACK_ADMIN", "127.0.0.1:0", 0);
  return doctest::Context(argc, argv).run();
}
