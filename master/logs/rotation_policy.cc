// Time formats and rotation decisions. Plain functions of their inputs; the
// clock is always passed in.
#include "logs/rotation_policy.h"

#include <algorithm>
#include <charconv>
#include <tuple>

#include "rack/date_format.h"

namespace rack::master {
namespace {

using namespace std::chrono;

struct Civil {
  int year;
  unsigned month, day, hour, minute, second, milli;
};

Civil to_civil(SysTime t) {
  auto ms = floor<milliseconds>(t);
  auto day = floor<days>(ms);
  year_month_day ymd{day};
  hh_mm_ss<milliseconds> hms{ms - day};
  return {int(ymd.year()),
          unsigned(ymd.month()),
          unsigned(ymd.day()),
          unsigned(hms.hours().count()),
          unsigned(hms.minutes().count()),
          unsigned(hms.seconds().count()),
          unsigned(hms.subseconds().count())};
}

void put_digits(char*& p, unsigned v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = char('0' + v % 10);
    v /= 10;
  }
  p += width;
}

// "YYYY-MM-DDTHH<sep>MM<sep>SS.mmmZ": 24 bytes. File names use '-' as the
// time separator because ':' is awkward on some filesystems and in scp.
void format_civil(char* p, const Civil& c, char sep) {
  put_digits(p, unsigned(c.year), 4);
  *p++ = '-';
  put_digits(p, c.month, 2);
  *p++ = '-';
  put_digits(p, c.day, 2);
  *p++ = 'T';
  put_digits(p, c.hour, 2);
  *p++ = sep;
  put_digits(p, c.minute, 2);
  *p++ = sep;
  put_digits(p, c.second, 2);
  *p++ = '.';
  put_digits(p, c.milli, 3);
  *p++ = 'Z';
}

constexpr std::size_t kStampLen = 24;

bool get_digits(std::string_view s, std::size_t at, int width, unsigned& v) {
  v = 0;
  for (int i = 0; i < width; ++i) {
    char ch = s[at + i];
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + unsigned(ch - '0');
  }
  return true;
}

// Parses exactly kStampLen bytes written by format_civil with `sep`.
std::optional<SysTime> parse_stamp(std::string_view s, char sep) {
  if (s.size() < kStampLen) return std::nullopt;
  unsigned y, mo, d, h, mi, se, ms;
  bool ok = get_digits(s, 0, 4, y) && s[4] == '-' && get_digits(s, 5, 2, mo) && s[7] == '-' &&
            get_digits(s, 8, 2, d) && s[10] == 'T' && get_digits(s, 11, 2, h) && s[13] == sep &&
            get_digits(s, 14, 2, mi) && s[16] == sep && get_digits(s, 17, 2, se) &&
            s[19] == '.' && get_digits(s, 20, 3, ms) && s[23] == 'Z';
  if (!ok || h > 23 || mi > 59 || se > 60) return std::nullopt;
  year_month_day ymd{year(int(y)), month(mo), day(d)};
  if (!ymd.ok()) return std::nullopt;
  return SysTime(sys_days(ymd) + hours(h) + minutes(mi) + seconds(se) + milliseconds(ms));
}

}  // namespace

std::string format_iso_ms(SysTime t) {
  char buf[kStampLen];
  format_civil(buf, to_civil(t), ':');
  return std::string(buf, kStampLen);
}

void append_line_prefix(std::string& out, SysTime t, int slot, std::string_view date_format) {
  char buf[kStampLen + 16];
  char* p = buf;
  if (date_format.empty()) {
    format_civil(buf, to_civil(t), ':');
    p += kStampLen;
  } else {
    date_format::append(out, date_format, t);
  }
  *p++ = ' ';
  *p++ = '[';
  if (slot < 0) {
    *p++ = '-';
  } else {
    p = std::to_chars(p, buf + sizeof buf, slot).ptr;
  }
  *p++ = ']';
  *p++ = ' ';
  out.append(buf, std::size_t(p - buf));
}

namespace {

// " [3] " after a stamp of `stamp_len` bytes.
std::optional<LinePrefix> parse_slot(std::string_view line, SysTime t, std::size_t stamp_len) {
  if (line.size() < stamp_len + 4 || line[stamp_len] != ' ' || line[stamp_len + 1] != '[') return std::nullopt;
  std::size_t close = line.find(']', stamp_len + 2);
  if (close == std::string_view::npos || close + 1 >= line.size() || line[close + 1] != ' ') {
    return std::nullopt;
  }
  std::string_view digits = line.substr(stamp_len + 2, close - stamp_len - 2);
  int slot = -1;
  if (digits != "-") {
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), slot);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || slot < 0) {
      return std::nullopt;
    }
  }
  return LinePrefix{t, slot, close + 2};
}

}  // namespace

std::optional<LinePrefix> parse_line_prefix(std::string_view line, std::string_view date_format) {
  if (!date_format.empty()) {
    if (auto d = date_format::parse(line, date_format))
      if (auto p = parse_slot(line, d->time, d->length)) return p;
    // Written before logs.date_format was set: the default stamp.
  }
  auto t = parse_stamp(line, ':');
  if (!t) return std::nullopt;
  return parse_slot(line, *t, kStampLen);
}

std::string rotated_name(std::string_view base, SysTime t, unsigned counter) {
  char stamp[kStampLen];
  format_civil(stamp, to_civil(t), '-');
  std::string name;
  name.reserve(base.size() + kStampLen + 16);
  name.append(base).append(".").append(stamp, kStampLen);
  if (counter > 0) name.append("_").append(std::to_string(counter));
  name.append(".log");
  return name;
}

std::optional<RotatedFile> parse_rotated(std::string_view base, std::string_view name) {
  if (name.size() <= base.size() + 1 || name.substr(0, base.size()) != base ||
      name[base.size()] != '.') {
    return std::nullopt;
  }
  std::string_view rest = name.substr(base.size() + 1);
  auto t = parse_stamp(rest, '-');
  if (!t) return std::nullopt;
  rest.remove_prefix(kStampLen);
  RotatedFile f{std::string(name), *t, 0, false};
  if (!rest.empty() && rest[0] == '_') {
    rest.remove_prefix(1);
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), f.counter);
    if (ec != std::errc() || end == rest.data()) return std::nullopt;
    rest.remove_prefix(std::size_t(end - rest.data()));
  }
  if (rest == ".log.gz") {
    f.compressed = true;
  } else if (rest != ".log") {
    return std::nullopt;
  }
  return f;
}

void sort_newest_first(std::vector<RotatedFile>& files) {
  std::sort(files.begin(), files.end(), [](const RotatedFile& a, const RotatedFile& b) {
    return std::tuple(b.time, b.counter, a.compressed) < std::tuple(a.time, a.counter, b.compressed);
  });
}

std::vector<RotatedFile> select_expired(std::vector<RotatedFile> files, unsigned keep,
                                        std::optional<config::Duration> max_age, SysTime now) {
  sort_newest_first(files);
  std::vector<RotatedFile> doomed;
  std::size_t rotations = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    bool same_rotation = i > 0 && files[i].time == files[i - 1].time &&
                         files[i].counter == files[i - 1].counter;
    if (!same_rotation) ++rotations;
    bool too_many = rotations > keep;
    bool too_old = max_age && files[i].time < now - *max_age;
    if (too_many || too_old) doomed.push_back(files[i]);
  }
  return doomed;
}

}  // namespace rack::master
