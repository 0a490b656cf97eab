#include "app/reload_sequence.h"

#include <memory>
#include <utility>

namespace rack::master {

namespace {

struct Sequence : std::enable_shared_from_this<Sequence> {
  std::function<ManagedApp*(const std::string&)> find;
  std::vector<ReloadStep> steps;
  size_t next = 0;
  ReloadObserver obs;

  void step() {
    while (next < steps.size()) {
      ReloadStep s = std::move(steps[next++]);
      ManagedApp* app = find(s.app);
      if (!app) continue;
      ReloadObserver inner;
      inner.progress = obs.progress;
      // The ManagedApp keeps `inner` until its reload ends: it holds the sequence.
      inner.done = [self = shared_from_this()](bool ok, const std::string& err, int slot) {
        if (!ok) return self->obs.done(false, err, slot);
        self->step();
      };
      app->reload(std::move(s.next), std::move(inner), s.options);
      return;
    }
    obs.done(true, "", -1);
  }
};

}  // namespace

void reload_in_sequence(std::function<ManagedApp*(const std::string&)> find, std::vector<ReloadStep> steps,
                        ReloadObserver obs) {
  auto seq = std::make_shared<Sequence>();
  seq->find = std::move(find);
  seq->steps = std::move(steps);
  seq->obs = std::move(obs);
  seq->step();
}

}  // namespace rack::master
