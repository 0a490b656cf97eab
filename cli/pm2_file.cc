#include "pm2_file.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "client.h"
#include "paths.h"
#include "rack/config.h"
#include "rack/pm2.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace rack::cli {
namespace {

constexpr std::size_t kMaxOutput = 16u << 20;
constexpr auto kNodeDeadline = std::chrono::seconds(10);
constexpr std::string_view kMark = "\x1e" "rack-pm2-json:";

// Evaluates the file with node: require() it (a function export is
// called, a promise awaited), then print the value as JSON after a mark,
// so whatever the file itself prints on stdout is not taken for it.
const char* kEval = R"JS(
const path = require('path');
const file = path.resolve(process.argv[1]);
const fail = (e) => { console.error(e && e.stack ? e.stack : String(e)); process.exit(3); };
let m;
try { m = require(file); } catch (e) { fail(e); }
if (m && m.__esModule && m.default !== undefined) m = m.default;
Promise.resolve(typeof m === 'function' ? m() : m).then((v) => {
  process.stdout.write('\n\x1erack-pm2-json:' + JSON.stringify(v === undefined ? null : v) + '\n');
}, fail);
)JS";

std::string clip(const std::string& s, std::size_t max = 2000) {
  std::string t = s;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t.size() > max ? t.substr(0, max) + "..." : t;
}

// node <kEval> <path>, with a deadline; its stdout, or nullopt with `error`.
std::optional<std::string> run_node(const std::string& path, std::string& error) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return error = std::string("pipe: ") + std::strerror(errno), std::nullopt;
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]), ::close(out[1]);
    return error = std::string("pipe: ") + std::strerror(errno), std::nullopt;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    execlp("node", "node", "-e", kEval, path.c_str(), static_cast<char*>(nullptr));
    std::fprintf(stderr, "cannot run node: %s (PM2's .js files are evaluated by node; is it on PATH?)\n",
                 std::strerror(errno));
    ::_exit(127);
  }
  ::close(out[1]), ::close(err[1]);
  if (pid < 0) {
    ::close(out[0]), ::close(err[0]);
    return error = std::string("fork: ") + std::strerror(errno), std::nullopt;
  }
  std::string stdout_text, stderr_text;
  auto deadline = std::chrono::steady_clock::now() + kNodeDeadline;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  bool timed_out = false;
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[65536];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      std::string& to = i == 0 ? stdout_text : stderr_text;
      if (n > 0 && to.size() < kMaxOutput) to.append(buf, static_cast<std::size_t>(n));
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return error = "node did not finish evaluating it within 10 s", std::nullopt;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    error = "node could not evaluate it";
    if (!stderr_text.empty()) error += ":\n" + clip(stderr_text);
    return std::nullopt;
  }
  auto mark = stdout_text.rfind(kMark);
  if (mark == std::string::npos) return error = "node printed no value for it (did the file exit early?)", std::nullopt;
  // What the file printed itself is the user's to see, not ours to parse.
  if (mark > 1) std::cerr << clip(stdout_text.substr(0, mark)) << "\n";
  return stdout_text.substr(mark + kMark.size());
}

json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.Scalar()] = yaml_to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) a.push_back(yaml_to_json(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() != "!" && (s == "true" || s == "false")) return s == "true";
      return s;
    }
    default: return nullptr;
  }
}

bool has_extension(const std::string& path, std::initializer_list<const char*> exts) {
  for (const char* e : exts)
    if (path.ends_with(e)) return true;
  return false;
}

std::optional<json> read_yaml(const std::string& path, std::string& error) {
  try {
    return yaml_to_json(YAML::LoadFile(path));
  } catch (const std::exception& e) {
    error = std::string("invalid YAML: ") + e.what();
    return std::nullopt;
  }
}

// What the PM2 file says, as JSON.
std::optional<json> read_pm2(const std::string& path, std::string& error) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return error = "no such file", std::nullopt;
  if (has_extension(path, {".yaml", ".yml"})) return read_yaml(path, error);
  std::string text;
  if (has_extension(path, {".json"})) {
    std::ifstream in(path);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    auto out = run_node(path, error);
    if (!out) return std::nullopt;
    text = *out;
  }
  json v = json::parse(text, nullptr, false, /*ignore_comments=*/true);
  if (v.is_discarded()) return error = "not valid JSON", std::nullopt;
  return v;
}

std::optional<pm2::Conversion> convert_file(const std::string& path, const pm2::Options& opt, std::string& error) {
  auto value = read_pm2(path, error);
  if (!value) {
    error = path + ": " + error;
    return std::nullopt;
  }
  pm2::Conversion c = pm2::convert(*value, fs::path(path).filename().string(), opt);
  for (const std::string& w : c.warnings) std::cerr << "rackctl: warning: " << w << "\n";
  if (!c.errors.empty()) {
    error.clear();
    for (const std::string& e : c.errors) error += (error.empty() ? "" : "\n") + e;
    return std::nullopt;
  }
  return c;
}

}  // namespace

bool is_pm2_file(const std::string& path) {
  // PM2's rule (Common.isConfigFile): *.config.js is a config, server.js a script.
  if (has_extension(path, {".config.js", ".config.cjs", ".config.mjs", ".json"})) return true;
  if (!has_extension(path, {".yaml", ".yml"})) return false;
  std::string ignored;
  auto v = read_yaml(path, ignored);
  return v && pm2::looks_like_pm2_yaml(*v);
}

std::optional<std::string> pm2_ecosystem(const std::string& path_arg, const std::string& env_name, std::string& error) {
  std::string path = absolute(path_arg);
  pm2::Options opt{.env_name = env_name, .base_dir = fs::path(path).parent_path().string()};
  auto c = convert_file(path, opt, error);
  if (!c) return std::nullopt;
  // One generated file per PM2 file, so reload and resurrect find it again.
  std::string stem = fs::path(path).filename().string();
  stem = stem.substr(0, stem.find('.'));
  char hash[17];
  std::snprintf(hash, sizeof hash, "%08zx", std::hash<std::string>{}(path) & 0xffffffffu);
  fs::path dir = fs::path(rack_home()) / "apps";
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::path file = dir / ("pm2-" + stem + "-" + hash + ".yaml");
  std::string yaml = "# Written by rackctl from " + path + (env_name.empty() ? "" : " --env " + env_name) +
                     "; regenerated by every rackctl start or reload of that file.\n" + c->yaml;
  try {
    config::load_string(yaml, path + " (as " + file.string() + ")");
  } catch (const config::ConfigError& e) {
    error = e.what();
    return std::nullopt;
  }
  fs::path tmp = file;
  tmp += ".tmp";
  {
    std::ofstream f(tmp);
    f << yaml;
    if (!f) return error = "cannot write " + tmp.string(), std::nullopt;
  }
  fs::rename(tmp, file, ec);
  if (ec) return error = "cannot write " + file.string() + ": " + ec.message(), std::nullopt;
  return file.string();
}

int pm2_convert(const std::string& path_arg, const std::string& env_name, const std::string& out_file) {
  std::string path = absolute(path_arg);
  std::string error;
  auto c = convert_file(path, pm2::Options{.env_name = env_name, .base_dir = "", .cpus = 0}, error);
  if (!c) {
    std::fprintf(stderr, "rackctl: %s\n", error.c_str());
    return kUsage;
  }
  std::string yaml = "# Converted by rackctl convert from " + fs::path(path).filename().string() +
                     (env_name.empty() ? "" : " --env " + env_name) + "; paths are relative to this file.\n" + c->yaml;
  // Validated as if it sat next to the PM2 file, where relative paths point.
  fs::path as = fs::path(path).parent_path() / "ecosystem.yaml";
  try {
    config::load_string(yaml, as.string());
  } catch (const config::ConfigError& e) {
    std::fprintf(stderr, "rackctl: the converted file would not load: %s\n", e.what());
    return kUsage;
  }
  if (out_file.empty() || out_file == "-") {
    std::cout << yaml;
    return kOk;
  }
  std::ofstream f(out_file);
  f << yaml;
  if (!f) {
    std::fprintf(stderr, "rackctl: cannot write %s\n", out_file.c_str());
    return kFailed;
  }
  std::cerr << "rackctl: wrote " << out_file << " (apps: ";
  for (std::size_t i = 0; i < c->names.size(); ++i) std::cerr << (i ? ", " : "") << c->names[i];
  std::cerr << ")\n";
  return kOk;
}

}  // namespace rack::cli
