#include "rack/cron.h"

#include <time.h>

#include <array>
#include <cctype>
#include <charconv>
#include <vector>

namespace rack::cron {
namespace {

struct FieldSpec {
  const char* name;
  int min, max;
  const char* const* names;  // names[i] is value min + i, or nullptr
  int name_count;
};

constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::optional<int> value_of(std::string_view s, const FieldSpec& f) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return v;
  if (f.names != nullptr && s.size() == 3) {
    std::string low(s);
    for (char& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (int i = 0; i < f.name_count; ++i)
      if (low == f.names[i]) return f.min + i;
  }
  return std::nullopt;
}

// One field into `bits` (index = value). Weekday 7 folds onto 0.
bool parse_field(std::string_view text, const FieldSpec& f, std::vector<bool>& bits, std::string& why) {
  bits.assign(static_cast<std::size_t>(f.max) + 1, false);
  const int top = f.max == 7 ? 7 : f.max;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    int step = 1;
    if (auto slash = part.find('/'); slash != std::string_view::npos) {
      auto s = value_of(part.substr(slash + 1), FieldSpec{f.name, 1, 1000, nullptr, 0});
      if (!s || *s < 1) return why = "bad step in \"" + std::string(part) + "\"", false;
      step = *s;
      part = part.substr(0, slash);
    }
    int lo = f.min, hi = top;
    if (part != "*") {
      auto dash = part.find('-');
      auto a = value_of(part.substr(0, dash), f);
      auto b = dash == std::string_view::npos ? a : value_of(part.substr(dash + 1), f);
      if (!a || !b) return why = "expected a number" + std::string(f.names ? " or a name" : "") + ", got \"" + std::string(part) + "\"", false;
      lo = *a;
      hi = dash == std::string_view::npos && step > 1 ? top : *b;
      for (int v : {lo, hi})
        if (v < f.min || v > top)
          return why = std::to_string(v) + " is out of range " + std::to_string(f.min) + "-" + std::to_string(top), false;
      if (lo > hi) return why = "range \"" + std::string(part) + "\" goes backwards", false;
    }
    for (int v = lo; v <= hi; v += step) bits[static_cast<std::size_t>(v == 7 && f.max == 7 ? 0 : v)] = true;
  }
  return true;
}

template <std::size_t N>
void copy_bits(const std::vector<bool>& from, std::bitset<N>& to) {
  for (std::size_t i = 0; i < N && i < from.size(); ++i) to[i] = from[i];
}

}  // namespace

std::optional<Schedule> Schedule::parse(std::string_view text, std::string& error) {
  std::vector<std::string_view> fields;
  for (std::size_t i = 0; i < text.size();) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  if (fields.size() != 5 && fields.size() != 6) {
    error = "expected 5 fields (minute hour day month weekday) or 6 (seconds first), got " + std::to_string(fields.size());
    return std::nullopt;
  }
  const std::array<FieldSpec, 6> specs = {{{"second", 0, 59, nullptr, 0},
                                           {"minute", 0, 59, nullptr, 0},
                                           {"hour", 0, 23, nullptr, 0},
                                           {"day of month", 1, 31, nullptr, 0},
                                           {"month", 1, 12, kMonths, 12},
                                           {"day of week", 0, 7, kDays, 7}}};
  Schedule s;
  std::size_t first = fields.size() == 6 ? 0 : 1;
  if (first == 1) s.seconds_[0] = true;
  std::vector<bool> bits;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const FieldSpec& f = specs[first + i];
    std::string why;
    if (!parse_field(fields[i], f, bits, why)) {
      error = "field " + std::to_string(i + 1) + " (" + f.name + "): " + why;
      return std::nullopt;
    }
    switch (first + i) {
      case 0: copy_bits(bits, s.seconds_); break;
      case 1: copy_bits(bits, s.minutes_); break;
      case 2: copy_bits(bits, s.hours_); break;
      case 3: copy_bits(bits, s.days_); s.any_day_ = fields[i] == "*"; break;
      case 4: copy_bits(bits, s.months_); break;
      default: copy_bits(bits, s.weekdays_); s.any_weekday_ = fields[i] == "*"; break;
    }
  }
  return s;
}

std::optional<time_t> Schedule::next_wall_time(time_t wall, time_t limit) const {
  time_t s = wall + 1;
  while (s <= limit) {
    struct tm tm {};
    gmtime_r(&s, &tm);
    bool day_ok = any_day_ && any_weekday_ ? true
                  : any_day_               ? weekdays_[tm.tm_wday]
                  : any_weekday_           ? days_[tm.tm_mday]
                                           : days_[tm.tm_mday] || weekdays_[tm.tm_wday];
    if (!months_[tm.tm_mon + 1]) {
      tm.tm_mon += 1, tm.tm_mday = 1, tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    } else if (!day_ok) {
      tm.tm_mday += 1, tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    } else if (!hours_[tm.tm_hour]) {
      tm.tm_hour += 1, tm.tm_min = tm.tm_sec = 0;
    } else if (!minutes_[tm.tm_min]) {
      tm.tm_min += 1, tm.tm_sec = 0;
    } else if (!seconds_[tm.tm_sec]) {
      tm.tm_sec += 1;
    } else {
      return s;
    }
    s = timegm(&tm);
  }
  return std::nullopt;
}

std::optional<std::chrono::system_clock::time_point> Schedule::next_after(std::chrono::system_clock::time_point t,
                                                                          const Zone& zone) const {
  using std::chrono::system_clock;
  constexpr time_t kDay = 24 * 3600;
  const time_t start = system_clock::to_time_t(t);
  const time_t limit = start + 5L * 366 * kDay;
  auto wall_of = [&zone](time_t u) { return u + zone.offset_at(u); };
  time_t wall = wall_of(start);
  while (auto w = next_wall_time(wall, limit + kDay)) {
    wall = *w;
    // The instants showing this wall time: none, one, or two, from the
    // offsets on either side of a change near it (zones change at most
    // once in two days).
    const long before = zone.offset_at(*w - kDay), after = zone.offset_at(*w + kDay);
    time_t first = *w - before, second = *w - after;
    if (first > second) std::swap(first, second);
    const bool first_shows = wall_of(first) == *w, second_shows = wall_of(second) == *w;
    if (first_shows && second_shows && first != second) {
      // Shown twice (the clock went back): the first time only.
      if (first > start) return system_clock::from_time_t(first);
      continue;
    }
    if (first_shows || second_shows) {
      time_t u = first_shows ? first : second;
      if (u > start) return system_clock::from_time_t(u);
      continue;
    }
    // Skipped (the clock jumped forward): at the jump, the first instant
    // whose wall time is past it.
    time_t lo = first, hi = second;
    while (lo < hi) {
      time_t mid = lo + (hi - lo) / 2;
      if (wall_of(mid) > *w) hi = mid;
      else lo = mid + 1;
    }
    if (lo > start && lo <= limit) return system_clock::from_time_t(lo);
  }
  return std::nullopt;
}

}  // namespace rack::cron
