// TZif (RFC 8536) and POSIX TZ rules, for cron_tz. Only what maps an
// instant to its UTC offset is kept: transition times and the offset of
// each, and the footer rule for times after the last transition.
#include "rack/time_zone.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace rack::cron {

// A POSIX TZ rule: standard offset, and optionally a DST offset with the
// local dates and times it starts and ends.
struct PosixRule {
  struct When {
    char kind = 'M';  // 'M' month.week.day, 'J' julian 1-365 (no Feb 29), 'D' day 0-365
    int month = 0, week = 0, day = 0;
    long time = 2 * 3600;  // local time of day, seconds (may be negative or past 24h)
  };
  long std_offset = 0, dst_offset = 0;  // seconds east of UTC
  bool has_dst = false;
  When start, end;
};

struct Zone::Rules {
  std::vector<int64_t> times;  // transitions, ascending
  std::vector<long> offsets;   // offsets[i]: from times[i] on
  long initial = 0;            // before the first transition
  std::optional<PosixRule> footer;
};

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int64_t year_of(int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  return static_cast<int64_t>(yoe) + era * 400 + (mp >= 10);
}

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// The day (since the epoch) a rule's date falls on in year `y`.
int64_t day_of(const PosixRule::When& w, int64_t y) {
  const int64_t jan1 = days_from_civil(y, 1, 1);
  if (w.kind == 'J') return jan1 + w.day - 1 + (leap(y) && w.day >= 60 ? 1 : 0);
  if (w.kind == 'D') return jan1 + w.day;
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const int64_t first = days_from_civil(y, static_cast<unsigned>(w.month), 1);
  const int weekday = static_cast<int>(((first + 4) % 7 + 7) % 7);  // 1970-01-01 was a Thursday
  int64_t day = (w.day - weekday + 7) % 7 + (w.week - 1) * 7;
  const int64_t length = kDays[w.month - 1] + (w.month == 2 && leap(y) ? 1 : 0);
  while (day >= length) day -= 7;  // week 5 is "the last"
  return first + day;
}

long rule_offset(const PosixRule& r, int64_t t) {
  if (!r.has_dst) return r.std_offset;
  const int64_t y = year_of((t + r.std_offset) / 86400 - ((t + r.std_offset) % 86400 < 0 ? 1 : 0));
  // The start is given in standard time, the end in daylight time.
  const int64_t start = day_of(r.start, y) * 86400 + r.start.time - r.std_offset;
  const int64_t end = day_of(r.end, y) * 86400 + r.end.time - r.dst_offset;
  const bool dst = start < end ? t >= start && t < end : t >= start || t < end;  // southern zones span new year
  return dst ? r.dst_offset : r.std_offset;
}

// ---- POSIX TZ strings: "CET-1CEST,M3.5.0,M10.5.0/3", "<+0330>-3:30" ----

struct Cursor {
  std::string_view s;
  std::size_t i = 0;
  bool done() const { return i >= s.size(); }
  char peek() const { return done() ? '\0' : s[i]; }
  bool eat(char c) { return peek() == c ? (++i, true) : false; }
  std::optional<long> number() {
    std::size_t start = i;
    long v = 0;
    while (!done() && s[i] >= '0' && s[i] <= '9' && i - start < 6) v = v * 10 + (s[i++] - '0');
    return i > start ? std::optional<long>(v) : std::nullopt;
  }
};

bool parse_name(Cursor& c) {
  if (c.eat('<')) {
    while (!c.done() && c.peek() != '>') ++c.i;
    return c.eat('>');
  }
  std::size_t start = c.i;
  while (!c.done() && ((c.peek() >= 'A' && c.peek() <= 'Z') || (c.peek() >= 'a' && c.peek() <= 'z'))) ++c.i;
  return c.i - start >= 3;
}

// [+-]hh[:mm[:ss]] in seconds.
std::optional<long> parse_hms(Cursor& c) {
  long sign = c.eat('-') ? -1 : (c.eat('+'), 1);
  auto h = c.number();
  if (!h || *h > 167) return std::nullopt;
  long v = *h * 3600;
  for (long unit : {60L, 1L}) {
    if (!c.eat(':')) break;
    auto part = c.number();
    if (!part || *part > 59) return std::nullopt;
    v += *part * unit;
  }
  return sign * v;
}

std::optional<PosixRule::When> parse_when(Cursor& c) {
  PosixRule::When w;
  if (c.eat('M')) {
    long part[3] = {-1, -1, -1};  // month, week, weekday
    for (int k = 0; k < 3; ++k) {
      if (k > 0 && !c.eat('.')) return std::nullopt;
      part[k] = c.number().value_or(-1);
    }
    if (part[0] < 1 || part[0] > 12 || part[1] < 1 || part[1] > 5 || part[2] < 0 || part[2] > 6) return std::nullopt;
    w.month = static_cast<int>(part[0]), w.week = static_cast<int>(part[1]), w.day = static_cast<int>(part[2]);
  } else {
    w.kind = c.eat('J') ? 'J' : 'D';
    auto n = c.number();
    if (!n || *n > 365 || (w.kind == 'J' && *n < 1)) return std::nullopt;
    w.day = static_cast<int>(*n);
  }
  if (c.eat('/')) {
    auto t = parse_hms(c);
    if (!t) return std::nullopt;
    w.time = *t;
  }
  return w;
}

std::optional<PosixRule> parse_posix(std::string_view text) {
  Cursor c{text};
  PosixRule r;
  if (!parse_name(c)) return std::nullopt;
  auto std_off = parse_hms(c);
  if (!std_off) return std::nullopt;
  r.std_offset = -*std_off;  // POSIX counts west of UTC
  if (c.done()) return r;
  if (!parse_name(c)) return std::nullopt;
  r.has_dst = true;
  r.dst_offset = r.std_offset + 3600;
  if (c.peek() != ',') {
    auto dst_off = parse_hms(c);
    if (!dst_off) return std::nullopt;
    r.dst_offset = -*dst_off;
  }
  if (!c.eat(',')) return std::nullopt;  // zic always writes the rules
  auto start = parse_when(c);
  auto end = c.eat(',') ? parse_when(c) : std::nullopt;
  if (!start || !end || !c.done()) return std::nullopt;
  r.start = *start, r.end = *end;
  return r;
}

// ---- TZif ----

struct Reader {
  std::string_view b;
  std::size_t at = 0;
  bool ok(std::size_t n) const { return at + n <= b.size(); }
  int64_t be(std::size_t n) {
    uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v = v << 8 | static_cast<unsigned char>(b[at + k]);
    at += n;
    if (n == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
    return static_cast<int64_t>(v);
  }
};

struct Counts {
  int64_t isut, isstd, leap, time, type, chars;
  std::size_t block(std::size_t time_size) const {
    return static_cast<std::size_t>(time * static_cast<int64_t>(time_size) + time + type * 6 + chars +
                                    leap * static_cast<int64_t>(time_size + 4) + isstd + isut);
  }
};

std::optional<Counts> header(Reader& r, char& version) {
  if (!r.ok(44) || r.b.substr(r.at, 4) != "TZif") return std::nullopt;
  version = r.b[r.at + 4];
  r.at += 20;
  Counts c{r.be(4), r.be(4), r.be(4), r.be(4), r.be(4), r.be(4)};
  for (int64_t n : {c.isut, c.isstd, c.leap, c.time, c.type, c.chars})
    if (n < 0 || n > 100000) return std::nullopt;
  if (c.type < 1) return std::nullopt;
  return c;
}

// The data block after a header: transitions, their types, the types' offsets.
bool read_block(Reader& r, const Counts& c, std::size_t time_size, Zone::Rules& out) {
  if (!r.ok(c.block(time_size))) return false;
  std::size_t types_at = r.at + static_cast<std::size_t>(c.time) * time_size;
  std::size_t info_at = types_at + static_cast<std::size_t>(c.time);
  std::vector<long> type_offsets;
  Reader info{r.b, info_at};
  for (int64_t k = 0; k < c.type; ++k) {
    type_offsets.push_back(static_cast<long>(info.be(4)));
    info.at += 2;  // isdst, designation index
  }
  out.times.clear();
  out.offsets.clear();
  for (int64_t k = 0; k < c.time; ++k) {
    int64_t t = r.be(time_size);
    auto type = static_cast<unsigned char>(r.b[types_at + static_cast<std::size_t>(k)]);
    if (type >= type_offsets.size() || (!out.times.empty() && t <= out.times.back())) return false;
    out.times.push_back(t);
    out.offsets.push_back(type_offsets[type]);
  }
  out.initial = type_offsets[0];
  r.at = types_at - static_cast<std::size_t>(c.time) * time_size + c.block(time_size);
  return true;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/') return false;
  for (char ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '/' && ch != '_' && ch != '-' && ch != '+') return false;
  return name.find("//") == std::string_view::npos;  // and so no "..": dots are refused above
}

}  // namespace

Zone Zone::local() {
  Zone z;
  z.name_ = "local";
  z.local_ = true;
  return z;
}

std::optional<Zone> Zone::from_tzif(std::string name, std::string_view bytes, std::string& error) {
  auto rules = std::make_shared<Rules>();
  Reader r{bytes};
  char version = 0;
  auto counts = header(r, version);
  bool ok = counts && read_block(r, *counts, 4, *rules);
  if (ok && version >= '2') {
    counts = header(r, version);
    ok = counts && read_block(r, *counts, 8, *rules);
    if (ok && r.ok(1) && r.b[r.at] == '\n') {
      std::size_t end = r.b.find('\n', r.at + 1);
      std::string_view tz = end == std::string_view::npos ? std::string_view() : r.b.substr(r.at + 1, end - r.at - 1);
      if (!tz.empty()) {
        rules->footer = parse_posix(tz);
        if (!rules->footer) return error = "cannot read the rule \"" + std::string(tz) + "\" at the end of its TZif data", std::nullopt;
      }
    }
  }
  if (!ok) return error = "not TZif data (RFC 8536), or cut short", std::nullopt;
  Zone z;
  z.name_ = std::move(name);
  z.rules_ = std::move(rules);
  return z;
}

std::optional<Zone> Zone::parse(std::string_view name, std::string& error, const std::string& dir) {
  if (name == "utc") return utc();
  if (name == "local") return local();
  const std::string expected = "expected utc, local (rackd's TZ) or a zone name like Europe/Berlin";
  if (!valid_name(name)) return error = expected + ", got \"" + std::string(name) + "\"", std::nullopt;
  std::string path = dir + "/" + std::string(name);
  std::string bytes;
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {  // not a directory like Europe
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (bytes.empty())
    return error = "no time zone named \"" + std::string(name) + "\" in " + dir + " (" + expected +
                   "; the names are tzdata's, apt-get install tzdata)",
           std::nullopt;
  std::string why;
  auto z = from_tzif(std::string(name), bytes, why);
  if (!z) error = path + ": " + why;
  return z;
}

long Zone::offset_at(time_t t) const {
  if (local_) {
    struct tm tm {};
    localtime_r(&t, &tm);
    return tm.tm_gmtoff;
  }
  if (!rules_) return 0;
  const Rules& r = *rules_;
  auto it = std::upper_bound(r.times.begin(), r.times.end(), static_cast<int64_t>(t));
  if (it == r.times.begin()) return r.initial;
  if (it == r.times.end() && r.footer) return rule_offset(*r.footer, t);
  return r.offsets[static_cast<std::size_t>(it - r.times.begin() - 1)];
}

}  // namespace rack::cron
