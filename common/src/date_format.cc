// logs.date_format: a small strftime of its own rather than strftime(3),
// because the stamps must be read back (`rackctl logs` takes each line's
// time and slot from the files) and strptime(3) knows neither
// milliseconds nor "+hh:mm" offsets.
#include "rack/date_format.h"

#include <time.h>

#include <array>

namespace rack::date_format {
namespace {

using namespace std::chrono;

// One conversion after '%' (":z" counts as one), with its digit width;
// width 0: not a number.
struct Conversion {
  std::string_view name;
  int width;
};
constexpr std::array<Conversion, 11> kConversions = {{
    {"Y", 4}, {"y", 2}, {"m", 2}, {"d", 2}, {"H", 2}, {"M", 2}, {"S", 2}, {"L", 3}, {"z", 0}, {":z", 0}, {"%", 0}}};
constexpr std::string_view kAccepted = "%Y %y %m %d %H %M %S %L %z %:z %F %T %%";

// Calls on_literal(char) and on_conv(name) in order; F and T expanded.
// Returns the offending conversion ("%q", "%" at the end) or "".
template <typename Lit, typename Conv>
std::string walk(std::string_view f, const Lit& on_literal, const Conv& on_conv) {
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      on_literal(f[i]);
      continue;
    }
    if (i + 1 >= f.size()) return "%";
    std::string_view rest = f.substr(i + 1);
    if (rest.starts_with("F") || rest.starts_with("T")) {
      bool date = rest[0] == 'F';
      on_conv(date ? "Y" : "H"), on_literal(date ? '-' : ':');
      on_conv(date ? "m" : "M"), on_literal(date ? '-' : ':');
      on_conv(date ? "d" : "S");
      ++i;
      continue;
    }
    std::string_view name = rest.starts_with(":z") ? rest.substr(0, 2) : rest.substr(0, 1);
    bool known = false;
    for (const Conversion& c : kConversions) known = known || c.name == name;
    if (!known) return "%" + std::string(name);
    if (name == "%") on_literal('%');
    else on_conv(name);
    i += name.size();
  }
  return "";
}

int width_of(std::string_view name) {
  for (const Conversion& c : kConversions)
    if (c.name == name) return c.width;
  return 0;
}

void put(std::string& out, long v, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i, v /= 10) buf[i] = char('0' + v % 10);
  out.append(buf, std::size_t(width));
}

void put_offset(std::string& out, long gmtoff_s, bool colon) {
  out += gmtoff_s < 0 ? '-' : '+';
  long m = (gmtoff_s < 0 ? -gmtoff_s : gmtoff_s) / 60;
  put(out, m / 60, 2);
  if (colon) out += ':';
  put(out, m % 60, 2);
}

// The fields a stamp gave, -1 where it had none.
struct Fields {
  int year = -1, month = -1, day = -1, hour = 0, minute = 0, second = 0, milli = 0;
  std::optional<long> offset_s;
};

std::optional<SysTime> to_time(Fields f) {
  if (f.year < 0 || f.month < 0 || f.day < 0) {
    time_t now = ::time(nullptr);
    struct tm today{};
    ::localtime_r(&now, &today);
    if (f.year < 0) f.year = today.tm_year + 1900;
    if (f.month < 0) f.month = today.tm_mon + 1;
    if (f.day < 0) f.day = today.tm_mday;
  }
  year_month_day ymd{year(f.year), month(unsigned(f.month)), day(unsigned(f.day))};
  if (!ymd.ok() || f.hour > 23 || f.minute > 59 || f.second > 60) return std::nullopt;
  auto local = sys_days(ymd) + hours(f.hour) + minutes(f.minute) + seconds(f.second);
  if (f.offset_s) return SysTime(local - seconds(*f.offset_s)) + milliseconds(f.milli);
  // No offset written: local time, as append() wrote it.
  struct tm tm{};
  tm.tm_year = f.year - 1900;
  tm.tm_mon = f.month - 1;
  tm.tm_mday = f.day;
  tm.tm_hour = f.hour;
  tm.tm_min = f.minute;
  tm.tm_sec = f.second;
  tm.tm_isdst = -1;
  time_t t = ::mktime(&tm);
  if (t == time_t(-1)) return std::nullopt;
  return system_clock::from_time_t(t) + milliseconds(f.milli);
}

bool read_digits(std::string_view s, std::size_t& at, int width, int& v) {
  if (at + std::size_t(width) > s.size()) return false;
  v = 0;
  for (int i = 0; i < width; ++i) {
    char c = s[at + std::size_t(i)];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  at += std::size_t(width);
  return true;
}

bool read_offset(std::string_view s, std::size_t& at, bool colon, std::optional<long>& offset_s) {
  if (at >= s.size() || (s[at] != '+' && s[at] != '-')) return false;
  long sign = s[at++] == '-' ? -1 : 1;
  int h = 0, m = 0;
  if (!read_digits(s, at, 2, h)) return false;
  if (colon && (at >= s.size() || s[at++] != ':')) return false;
  if (!read_digits(s, at, 2, m)) return false;
  offset_s = sign * (h * 3600L + m * 60L);
  return true;
}

}  // namespace

std::string check(std::string_view format) {
  if (format.empty()) return "expected a format like \"%Y-%m-%d %H:%M:%S\", got an empty one";
  std::string bad = walk(format, [](char) {}, [](std::string_view) {});
  if (bad.empty()) return "";
  if (bad == "%") return "a format ends in a lone %; write %% for a '%'";
  return bad + " is not a conversion logs.date_format can write and read back; use " + std::string(kAccepted);
}

void append(std::string& out, std::string_view format, SysTime t) {
  auto ms = floor<milliseconds>(t);
  time_t secs = system_clock::to_time_t(floor<seconds>(ms));
  struct tm tm{};
  ::localtime_r(&secs, &tm);
  long milli = long((ms - floor<seconds>(ms)).count());
  walk(format, [&](char c) { out += c; },
       [&](std::string_view name) {
         if (name == "z" || name == ":z") return put_offset(out, tm.tm_gmtoff, name == ":z");
         long v = name == "Y"   ? tm.tm_year + 1900L
                  : name == "y" ? (tm.tm_year + 1900L) % 100
                  : name == "m" ? tm.tm_mon + 1L
                  : name == "d" ? tm.tm_mday
                  : name == "H" ? tm.tm_hour
                  : name == "M" ? tm.tm_min
                  : name == "S" ? tm.tm_sec
                                : milli;
         put(out, v, width_of(name));
       });
}

std::optional<Parsed> parse(std::string_view text, std::string_view format) {
  Fields f;
  std::size_t at = 0;
  bool ok = true;
  std::string bad = walk(
      format, [&](char c) { ok = ok && at < text.size() && text[at++] == c; },
      [&](std::string_view name) {
        if (!ok) return;
        if (name == "z" || name == ":z") {
          ok = read_offset(text, at, name == ":z", f.offset_s);
          return;
        }
        int v = 0;
        ok = read_digits(text, at, width_of(name), v);
        if (name == "Y") f.year = v;
        else if (name == "y") f.year = 2000 + v;
        else if (name == "m") f.month = v;
        else if (name == "d") f.day = v;
        else if (name == "H") f.hour = v;
        else if (name == "M") f.minute = v;
        else if (name == "S") f.second = v;
        else f.milli = v;
      });
  if (!ok || !bad.empty()) return std::nullopt;
  auto t = to_time(f);
  if (!t) return std::nullopt;
  return Parsed{*t, at};
}

std::string from_moment(std::string_view m, std::vector<std::string>& unmapped) {
  // Matched against whole runs of one letter, so "YYYY" is never read as "YY" twice.
  static constexpr std::pair<std::string_view, std::string_view> kTokens[] = {
      {"YYYY", "%Y"}, {"YY", "%y"}, {"MM", "%m"}, {"DD", "%d"}, {"HH", "%H"}, {"mm", "%M"},
      {"ss", "%S"},   {"SSS", "%L"}, {"ZZ", "%z"}, {"Z", "%:z"}};
  std::string out;
  std::size_t size_before = unmapped.size();
  for (std::size_t i = 0; i < m.size();) {
    char c = m[i];
    if (c == '[') {  // moment's escaped text
      std::size_t close = m.find(']', i);
      std::string_view lit = m.substr(i + 1, close == std::string_view::npos ? std::string_view::npos : close - i - 1);
      for (char l : lit) out += l == '%' ? "%%" : std::string(1, l);
      i = close == std::string_view::npos ? m.size() : close + 1;
      continue;
    }
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!letter) {
      out += c == '%' ? "%%" : std::string(1, c);
      ++i;
      continue;
    }
    std::size_t run = i;  // a run of one letter is one token: "MMM", "dddd"
    while (run < m.size() && m[run] == c) ++run;
    if (c != 'o' && run < m.size() && m[run] == 'o') ++run;  // an ordinal: "Do", "Mo"
    std::string_view token = m.substr(i, run - i);
    i = run;
    bool mapped = false;
    for (const auto& [from, to] : kTokens) {
      if (token == from) {
        out += to;
        mapped = true;
        break;
      }
    }
    if (!mapped) unmapped.emplace_back(token);
  }
  return unmapped.size() == size_before ? out : std::string();
}

}  // namespace rack::date_format
