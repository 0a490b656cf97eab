#include "app/reconcile.h"

#include <algorithm>

namespace rack::master {

std::string_view to_string(SlotAction a) {
  switch (a) {
    case SlotAction::Spawn: return "spawn";
    case SlotAction::ReplaceInPlace: return "replace-in-place";
    case SlotAction::SpawnReplacement: return "spawn-replacement";
    case SlotAction::Retire: return "retire";
  }
  return "unknown";
}

std::vector<Action> reconcile(const Desired& want, std::span<const SlotView> slots) {
  std::vector<Action> out;
  if (want.stopped) return out;
  std::vector<SlotView> sorted(slots.begin(), slots.end());
  std::sort(sorted.begin(), sorted.end(), [](const SlotView& a, const SlotView& b) { return a.index < b.index; });

  const int n = static_cast<int>(want.instances);
  unsigned replacing = 0;
  for (const SlotView& s : sorted) {
    if (s.index >= n) out.push_back({SlotAction::Retire, s.index});
    else replacing += s.has_replacement;
  }
  auto it = sorted.begin();
  for (int i = 0; i < n; ++i) {
    while (it != sorted.end() && it->index < i) ++it;
    const SlotView* s = it != sorted.end() && it->index == i ? &*it : nullptr;
    if (!s || !s->has_current) {
      out.push_back({SlotAction::Spawn, i});
      continue;
    }
    if (!want.reloading || i >= want.replace_below || s->current_generation >= want.generation || s->has_replacement)
      continue;
    // An older worker that is not running (backoff, errored) has nothing to
    // hand over: replace it in place.
    if (!s->current_running) {
      out.push_back({SlotAction::ReplaceInPlace, i});
      continue;
    }
    if (replacing >= want.parallel) continue;
    out.push_back({SlotAction::SpawnReplacement, i});
    ++replacing;
  }
  return out;
}

CrashRestart restart_after_crash(const CrashFacts& f) {
  CrashRestart out{f.backoff_delay, f.start_failing, false};
  if (!f.was_serving && f.cause != ExitCause::OutsideSignal) out.start_failing = true;
  if (out.delay > std::chrono::milliseconds(0) && (f.was_serving || !out.start_failing) && !f.fixed_delay &&
      !f.other_attempt) {
    out.delay = std::chrono::milliseconds(0);
    out.hurried = true;
  }
  return out;
}

}  // namespace rack::master
