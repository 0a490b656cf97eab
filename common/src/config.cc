// Loads ecosystem.yaml into rack::config::Ecosystem: reading the file,
// parsing the YAML, and the top level (rack:, apps:). How the loader works:
// config_loader.h.
#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "config_loader.h"

namespace rack::config {
namespace detail {
namespace {

// The top level

const std::vector<Key<RackSection>> kRackKeys = {
    {"admin",
     [](Loader& l, RackSection& r, const Field& f) {
       constexpr std::string_view what = "host:port like 127.0.0.1:9650, or off";
       std::string s = l.text(f, what);
       r.admin_at = l.at(f);
       if (s == "off" || s == "false" || s == "no") {
         r.admin = std::nullopt;
         return;
       }
       r.admin = parse_listen(s);
       if (!r.admin) l.expected(f, what);
     }},
    {"shutdown_delay", [](Loader& l, RackSection& r, const Field& f) { r.shutdown_delay = l.duration(f); }},
    {"exit_on_errored", [](Loader& l, RackSection& r, const Field& f) { r.exit_on_errored = l.boolean(f); }},
    {"admin_token",
     [](Loader& l, RackSection& r, const Field& f) {
       constexpr std::string_view what = "a token of 16 to 256 visible ASCII characters (no spaces)";
       std::string s = l.text(f, what);
       bool visible = std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
       // Not echoed back: the message may land in a terminal or a log.
       if (s.size() < 16 || s.size() > 256 || !visible)
         l.fail(f, "expected " + std::string(what) + ", got " + std::to_string(s.size()) + " characters" +
                       (visible ? "" : " with a space or control character"));
       r.admin_token = s;
     }},
};

const std::vector<Key<Ecosystem>> kTopKeys = {
    {"rack", [](Loader& l, Ecosystem& e, const Field& f) { l.read_map(f, e.rack, kRackKeys); }},
    {"apps",
     [](Loader& l, Ecosystem& e, const Field& f) {
       if (!f.value.IsSequence()) l.expected(f, "a list of apps (each starting with \"- name:\")");
       if (f.value.size() == 0) l.fail(f, "expected at least one app, got an empty list");
       std::map<std::string, int> first_line;  // name -> line of its first definition
       std::size_t i = 0;
       for (const auto& item : f.value) {
         Field entry{"", item, item, "apps[" + std::to_string(i++) + "]"};
         l.attempt([&] {
           AppConfig app = l.read_app(entry);
           if (!app.name.empty() && valid_app_name(app.name)) {
             auto [it, inserted] = first_line.emplace(app.name, app.at.line);
             if (!inserted) {
               Location where = app.at;
               where.key_path = entry.path + ".name";
               if (const YAML::Node name = entry.value["name"]) where = l.at(name, where.key_path);
               l.record(ConfigError(where, "duplicate app name " + in_quotes(app.name) +
                                               " (first defined at line " + std::to_string(it->second) + ")"));
             }
           }
           e.apps.push_back(std::move(app));
         });
       }
     }},
};

}  // namespace

Ecosystem Loader::load(const YAML::Node& root) {
  Ecosystem eco;
  eco.path = normal(fs::absolute(file_)).string();
  eco.rack.admin_at = Location{file_, 0, 0, "rack.admin"};

  Field doc{"", root, root, ""};
  if (!root.IsDefined() || root.IsNull()) {
    throw ConfigError(Location{file_, 1, 1, ""}, "the file is empty; expected a map with an apps: list");
  }
  if (!root.IsMap()) expected(doc, "a map with rack: and apps: at the top level");
  Seen seen = read_map(doc, eco, kTopKeys);
  if (!seen.has("apps")) {
    record(ConfigError(at(root, "apps"), "missing required key \"apps\" (the list of apps to run)"));
  }
  if (failed()) throw_errors();
  return eco;
}

}  // namespace detail

using detail::kMaxFileBytes;
using detail::Loader;


namespace {

// Counts the documents of a YAML stream that have content. A document
// whose only event is a null is where counting stops: yaml-cpp 0.7's
// parser, on some malformed input ("," alone), returns such a document
// again and again without consuming anything, which makes YAML::LoadAll
// loop forever, allocating (fixed upstream in yaml-cpp PR #1319).
class DocumentCounter final : public YAML::EventHandler {
 public:
  bool content = false;
  YAML::Mark start;
  void OnDocumentStart(const YAML::Mark& mark) override {
    content = false;
    start = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { content = true; }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {
    content = true;
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    content = true;
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    content = true;
  }
  void OnMapEnd() override {}
};

// The first document of `text` (null when there is none), through
// YAML::Load, which parses one document and stops. Throws ConfigError
// when a second document with content follows.
YAML::Node single_document(const std::string& text, const std::string& path) {
  YAML::Node doc = YAML::Load(text);
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentCounter counter;
  constexpr int kMaxCounted = 16;
  int n = 0;
  YAML::Mark second;
  while (n < kMaxCounted && parser.HandleNextDocument(counter) && counter.content)
    if (++n == 2) second = counter.start;
  if (n > 1)
    throw ConfigError(Location{path, second.line + 1, second.column + 1, ""},
                      "expected one YAML document, found " + std::to_string(n) +
                          (n == kMaxCounted ? " or more" : "") + " (remove the extra ---)");
  return doc;
}

}  // namespace

Ecosystem load_string(std::string_view yaml, const std::string& path) {
  YAML::Node doc;
  try {
    doc = single_document(std::string(yaml), path);
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::ParserException& e) {
    Location where{path, 0, 0, ""};
    if (e.mark.line >= 0) {
      where.line = e.mark.line + 1;
      where.column = e.mark.column + 1;
    }
    if (e.mark.pos >= 0 && static_cast<std::size_t>(e.mark.pos) >= yaml.size()) {
      // Something left open ("run: [x") is reported at end of input, which
      // after the final newline is a line the user cannot see. Point at the
      // end of the last line that has text instead.
      std::size_t end = yaml.find_last_not_of(" \t\r\n");
      if (end != std::string_view::npos) {
        std::size_t start = yaml.rfind('\n', end);
        start = start == std::string_view::npos ? 0 : start + 1;
        where.line = static_cast<int>(std::count(yaml.begin(), yaml.begin() + static_cast<long>(start), '\n')) + 1;
        where.column = static_cast<int>(end - start) + 2;
      }
    }
    // yaml-cpp's depth guard reports itself as "bad file"; say what it means.
    bool too_deep = dynamic_cast<const YAML::DeepRecursion*>(&e) != nullptr;
    throw ConfigError(where, "invalid YAML: " + (too_deep ? std::string("nested too deeply") : e.msg));
  } catch (const YAML::Exception& e) {
    throw ConfigError(Location{path, 0, 0, ""}, std::string("invalid YAML: ") + e.what());
  }
  try {
    Loader loader(path);
    return loader.load(doc);
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    // A safety net: a wrong-typed node must never escape as a YAML exception.
    throw ConfigError(Location{path, 0, 0, ""}, std::string("cannot load: ") + e.what());
  }
}

Ecosystem load_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ConfigError("cannot read " + path + ": " + std::strerror(errno));
  std::string data;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw ConfigError("cannot read " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxFileBytes) {
      ::close(fd);
      throw ConfigError("cannot read " + path + ": larger than 16 MiB, not an ecosystem file");
    }
  }
  ::close(fd);
  return load_string(data, path);
}

}  // namespace rack::config
