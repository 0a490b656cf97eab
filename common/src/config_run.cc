// What an app runs: `run:` as a list or a split string, and run[0]
// resolved to an executable (a script gets its interpreter in front).
#include <unistd.h>

#include <cstdlib>

#include "config_loader.h"

namespace rack::config::detail {

constexpr std::string_view kCommand = "a command: a list like [node, app.js] or a string";

void set_run(Loader& l, AppConfig& a, const Field& f) {
  std::vector<std::string> argv;
  if (f.value.IsSequence()) {
    std::size_t i = 0;
    for (const auto& item : f.value) {
      Field arg{"", item, item, f.path + "[" + std::to_string(i++) + "]"};
      argv.push_back(l.text(arg, "a string (one argument)"));
    }
  } else if (f.value.IsScalar()) {
    auto words = split_command(f.value.Scalar());
    if (!words) l.fail(f, "unterminated quote or trailing backslash in " + in_quotes(f.value.Scalar()));
    // The string is split, never run by a shell: a pipe or && would silently
    // become an argument.
    for (const std::string& w : *words) {
      if (w == "|" || w == "||" || w == "&&" || w == ";" || w == "&" || w == ">" || w == ">>" ||
          w == "<" || w == "2>&1") {
        l.fail(f, "run is not given to a shell, so " + in_quotes(w) +
                      " would reach the program as an argument; write run: [sh, -c, \"...\"] "
                      "if you need a shell, or use the list form");
      }
    }
    argv = std::move(*words);
  } else {
    l.expected(f, kCommand);
  }
  if (argv.empty()) l.fail(f, "expected " + std::string(kCommand) + ", got an empty command");
  if (argv[0].empty()) l.fail(f, "the program name (the first word of run) is empty");
  a.run = std::move(argv);
}

// Resolves run[0] now rather than at spawn time, so `rackctl start` says
// "not found" with a line number instead of a worker dying in a loop.
void Loader::resolve_run(AppConfig& app, const Field& run) {

  // PM2 habit: `run: server.js --flag` means `node server.js --flag`,
  // `run: app.py` `python3 app.py`, a non-executable script with a "#!"
  // line what that line says; `interpreter:` overrides it.
  {
    fs::path script(app.run[0]);
    if (script.is_relative()) script = fs::path(app.cwd) / script;
    std::vector<std::string> prefix;
    if (app.interpreter) {
      if (!app.interpreter->empty() && (*app.interpreter)[0] != app.run[0]) prefix = *app.interpreter;
    } else if (app.run[0].find('/') != std::string::npos || !script_interpreter(app.run[0]).empty()) {
      prefix = script_interpreter(normal(script).string());
    }
    if (!prefix.empty()) {
      std::error_code ec;
      if (!fs::exists(script, ec))
        fail(run, "script " + in_quotes(app.run[0]) + " not found (looked for " + normal(script).string() + ")");
      app.run.insert(app.run.begin(), prefix.begin(), prefix.end());
    }
  }

  const std::string program = app.run[0];
  if (program.find('/') != std::string::npos) {
    fs::path p(program);
    if (p.is_relative()) p = fs::path(app.cwd) / p;
    p = normal(p);
    std::error_code ec;
    if (!fs::exists(p, ec)) fail(run, "executable " + in_quotes(program) + " not found (looked for " + p.string() + ")");
    if (fs::is_directory(p, ec)) fail(run, in_quotes(p.string()) + " is a directory, not an executable");
    if (!is_executable_file(p)) fail(run, in_quotes(p.string()) + " is not executable (chmod +x?)");
    app.run[0] = p.string();
    return;
  }

  // Like execvp; an unset PATH gets the same default glibc uses. Empty PATH
  // entries (meaning ".") are skipped: which directory "." is depends on who
  // started rackd.
  const char* env_path = std::getenv("PATH");
  std::string search = env_path != nullptr ? env_path : "/usr/local/bin:/usr/bin:/bin";
  std::vector<fs::path> dirs;
  for (std::size_t start = 0; start <= search.size();) {
    std::size_t end = search.find(':', start);
    if (end == std::string::npos) end = search.size();
    if (end > start) dirs.emplace_back(search.substr(start, end - start));
    start = end + 1;
  }
  static const std::string own_dir = own_directory();
  if (!own_dir.empty()) {
    dirs.emplace_back(own_dir);
    // Installed: the examples sit in a lib dir beside bin/ (RACK_LIBEXEC_FROM_BIN).
    dirs.push_back(normal(fs::path(own_dir) / RACK_LIBEXEC_FROM_BIN));
  }
  for (const fs::path& d : dirs) {
    fs::path candidate = d / program;
    if (is_executable_file(candidate)) {
      app.run[0] = normal(fs::absolute(candidate)).string();
      return;
    }
  }
  fail(run, "executable " + in_quotes(program) + " not found (searched PATH and " +
                (own_dir.empty() ? std::string("rackd's directory") : own_dir + ", " + dirs.back().string()) + ")");
}

}  // namespace rack::config::detail
