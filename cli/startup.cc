#include "startup.h"

#include <limits.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "client.h"

namespace rack::cli {

namespace {

std::string own_dir() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  self[n] = '\0';
  return std::filesystem::path(self).parent_path().string();
}

// systemd splits Environment= and Exec lines on spaces unless quoted.
std::string unit_quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '%' ? std::string("%%") : std::string(1, c);
  }
  return out + "\"";
}

int run(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    _exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

}  // namespace

StartupUnit startup_unit(const StartupOptions& opt, std::string& error) {
  StartupUnit u;
  const passwd* pw = opt.as.empty() ? ::getpwuid(::getuid()) : ::getpwnam(opt.as.c_str());
  if (!pw) {
    error = opt.as.empty() ? "the current uid has no user name (getpwuid)" : "--as: no user named \"" + opt.as + "\"";
    return u;
  }
  u.user = opt.user_unit ? "" : pw->pw_name;
  u.home = opt.as.empty() ? rack_home() : std::string(pw->pw_dir) + "/.rack";
  u.name = opt.user_unit ? "rack.service" : std::string("rack-") + pw->pw_name + ".service";
  std::string dir = own_dir();
  std::string rackd = dir + "/rackd", rackctl = dir + "/rackctl";
  const char* path = std::getenv("PATH");
  std::string t;
  t += "# Written by rackctl startup: rackd for RACK_HOME=" + u.home + ", and at boot the apps\n";
  t += "# `rackctl save` remembered (rackctl resurrect). Run rackctl save after changes.\n";
  t += "[Unit]\nDescription=Rack process supervisor (" + u.home + ")\n";
  if (!opt.user_unit) t += "After=network-online.target\nWants=network-online.target\n";
  t += "\n[Service]\nType=notify\nNotifyAccess=main\n";
  if (!opt.user_unit) t += "User=" + u.user + "\n";
  t += "Environment=" + unit_quoted("RACK_HOME=" + u.home) + "\n";
  if (path) t += "Environment=" + unit_quoted(std::string("PATH=") + path) + "\n";
  t += "Environment=LOG_FORMAT=json\n";
  t += "ExecStart=" + rackd + " --no-daemon --no-stdout-logs --home " + unit_quoted(u.home) + "\n";
  // "-": nothing saved yet is not a failure of rackd.
  t += "ExecStartPost=-" + rackctl + " resurrect\n";
  t += "ExecReload=" + rackctl + " reload all\n";
  t += "WatchdogSec=30s\nKillMode=mixed\nTimeoutStartSec=90s\nTimeoutStopSec=60s\n";
  t += "Restart=on-failure\nRestartSec=2s\nRestartPreventExitStatus=2\n";
  t += "\n[Install]\nWantedBy=" + std::string(opt.user_unit ? "default.target" : "multi-user.target") + "\n";
  u.text = std::move(t);
  return u;
}

int cmd_startup(const StartupOptions& opt) {
  if (opt.user_unit && !opt.as.empty()) {
    std::fprintf(stderr, "rackctl startup: --as is for the system unit; a --user unit runs as you\n");
    return kUsage;
  }
  std::string error;
  StartupUnit u = startup_unit(opt, error);
  if (!error.empty()) {
    std::fprintf(stderr, "rackctl startup: %s\n", error.c_str());
    return kUsage;
  }
  if (!opt.install) {
    std::cout << u.text;
    std::fprintf(stderr, "# to install it: rackctl startup%s --install%s\n", opt.user_unit ? " --user" : "",
                 opt.user_unit ? "" : " (as root)");
    return kOk;
  }
  std::string dir = opt.unit_dir;
  if (dir.empty()) {
    const char* home = std::getenv("HOME");
    dir = opt.user_unit ? std::string(home ? home : "") + "/.config/systemd/user" : "/etc/systemd/system";
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string path = dir + "/" + u.name;
  std::ofstream out(path, std::ios::trunc);
  out << u.text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "rackctl startup: cannot write %s: %s%s\n", path.c_str(), std::strerror(errno),
                 !opt.user_unit && ::geteuid() != 0 ? " (the system unit needs root; or use --user)" : "");
    return kFailed;
  }
  ::chmod(path.c_str(), 0644);
  std::cout << "wrote " << path << "\n";
  if (!opt.unit_dir.empty()) {
    std::cout << "then: systemctl" << (opt.user_unit ? " --user" : "") << " enable --now " << u.name << "\n";
    return kOk;
  }
  std::vector<std::string> systemctl = {"systemctl"};
  if (opt.user_unit) systemctl.push_back("--user");
  auto with = [&](std::vector<std::string> more) {
    auto argv = systemctl;
    argv.insert(argv.end(), more.begin(), more.end());
    return argv;
  };
  if (run(with({"daemon-reload"})) != 0 || run(with({"enable", u.name})) != 0) {
    std::fprintf(stderr, "rackctl startup: systemctl could not enable %s (is systemd running?)\n", u.name.c_str());
    return kFailed;
  }
  std::cout << "enabled " << u.name << ": rackd starts at boot and resurrects what rackctl save remembered\n";
  if (opt.user_unit) std::cout << "(for it to start before you log in: loginctl enable-linger $USER)\n";
  return kOk;
}

}  // namespace rack::cli
