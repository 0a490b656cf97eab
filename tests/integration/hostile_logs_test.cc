// Log directories another user can write in: rackd (root here) must not
// follow what that user planted there.
#include <doctest/doctest.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness.h"

using namespace rack::test;
namespace fs = std::filesystem;

namespace {

std::string read(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

mode_t mode_of(const std::string& path) {
  struct stat st{};
  ::lstat(path.c_str(), &st);
  return st.st_mode & 07777;
}

// An app that prints a line every 50 ms, its logs in `dir`.
std::string chatty(const std::string& name, const std::string& dir) {
  return "  - name: " + name + "\n    run: [sh, -c, 'while true; do echo tick; sleep 0.05; done']\n" +
         "    protocol: none\n    logs: {dir: " + dir + ", max_size: 2K, keep: 3, compress: true}\n";
}

}  // namespace

TEST_CASE("hostile: root does not follow symlinks planted in a sticky shared logs dir") {
  passwd* nobody = ::getpwnam("nobody");
  if (::geteuid() != 0 || nobody == nullptr) {
    MESSAGE("needs root and a user nobody; skipped");
    return;
  }
  Rack rack;
  std::string shared = rack.home() + "/shared";
  fs::create_directory(shared);
  ::chmod(shared.c_str(), 01777);  // sticky and rackd's (root's): allowed
  std::string victim = rack.home() + "/victim";
  std::ofstream(victim) << "secret\n";
  ::chmod(victim.c_str(), 0600);
  // Planted by nobody: the out log points at the victim, the err log at a
  // file that does not exist yet (root would create it).
  std::string out_link = shared + "/web.out.log", err_link = shared + "/web.err.log";
  fs::create_symlink(victim, out_link);
  fs::create_symlink(rack.home() + "/created-by-root", err_link);
  ::lchown(out_link.c_str(), nobody->pw_uid, nobody->pw_gid);
  ::lchown(err_link.c_str(), nobody->pw_uid, nobody->pw_gid);

  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + chatty("web", shared));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  std::this_thread::sleep_for(1500ms);
  CHECK(read(victim) == "secret\n");
  CHECK_FALSE(fs::exists(rack.home() + "/created-by-root"));
  CHECK(rack.ctl({"flush", "web"}).exit_code == 0);
  CHECK(read(victim) == "secret\n");  // flush did not truncate it
  CHECK(fs::is_symlink(out_link));
  std::string log = read(rack.home() + "/rackd.log");
  CHECK_MESSAGE(log.find("web.out.log") != std::string::npos, log);
  CHECK(pid_alive(rack.rackd_pid()));
  CHECK(rack.app("web")["workers"][0]["state"] == "ready");
}

TEST_CASE("hostile: a logs dir other users can write is refused at start with the reason") {
  passwd* nobody = ::getpwnam("nobody");
  if (::geteuid() != 0 || nobody == nullptr) {
    MESSAGE("needs root and a user nobody; skipped");
    return;
  }
  Rack rack;
  std::string theirs = rack.home() + "/theirs";
  fs::create_directory(theirs);
  ::chown(theirs.c_str(), nobody->pw_uid, nobody->pw_gid);
  ::chmod(theirs.c_str(), 0755);
  std::string open = rack.home() + "/open";
  fs::create_directory(open);
  ::chmod(open.c_str(), 0777);
  for (const std::string& dir : {theirs, open}) {
    std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + chatty("web", dir));
    auto r = rack.ctl({"start", eco});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find("other users can write in it") != std::string::npos, r.err);
    CHECK(fs::is_empty(dir));
  }
}

TEST_CASE("hostile: log files are 0640 and dirs 0750 and rotated and compressed files keep the mode") {
  Rack rack;
  std::string dir = rack.home() + "/applogs/deeper";
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + chatty("web", dir));
  mode_t old = ::umask(0);  // rackd started from a shell with umask 0 still writes private files
  auto r = rack.ctl({"start", eco});
  ::umask(old);
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  bool compressed = wait_until(
      [&] {
        for (auto& e : fs::directory_iterator(dir))
          if (e.path().string().ends_with(".log.gz")) return true;
        return false;
      },
      15s);
  REQUIRE(compressed);
  CHECK(mode_of(rack.home() + "/applogs") == 0750);
  CHECK(mode_of(dir) == 0750);
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().string().find(".tmp.") != std::string::npos) continue;
    CHECK_MESSAGE(mode_of(e.path()) == 0640, e.path().string());
  }
}
