#include "health.h"

#include <stdexcept>

#include "rack/timer.h"

namespace rack::worker {

struct HealthChecks::Round {
  std::vector<channel::CheckResult> results;
  std::vector<bool> answered;
  std::size_t remaining = 0;
  bool finished = false;
  Report report;
};

void HealthChecks::add(std::string name, Check check) {
  if (!channel::valid_check_name(name))
    throw std::invalid_argument("health check name \"" + name +
                                "\": use 1-64 letters, digits, '_', '.' or '-'");
  for (auto& [n, c] : checks_)
    if (n == name) throw std::invalid_argument("health check \"" + name + "\" is already registered");
  if (checks_.size() >= channel::kMaxChecks)
    throw std::invalid_argument("health check \"" + name + "\": at most " + std::to_string(channel::kMaxChecks) +
                                " checks per app");
  if (!check) throw std::invalid_argument("health check \"" + name + "\" has no function");
  checks_.emplace_back(std::move(name), std::move(check));
}

void HealthChecks::run(Report report) {
  if (round_) return;
  auto round = std::make_shared<Round>();
  round->report = std::move(report);
  round->remaining = checks_.size();
  round->answered.assign(checks_.size(), false);
  for (auto& [name, check] : checks_) round->results.push_back({name, ""});
  round_ = round;
  if (checks_.empty()) return finish(round);

  std::weak_ptr<Round> weak = round;
  rack::after(loop_, timeout_ms_, [this, weak] {
    auto r = weak.lock();  // gone with the HealthChecks, or finished
    if (!r || r->finished) return;
    for (std::size_t i = 0; i < r->answered.size(); ++i)
      if (!r->answered[i]) r->results[i].error = "did not answer within " + std::to_string(timeout_ms_) + " ms";
    finish(r);
  });
  // A check may add another (health_check) while it runs: the round covers
  // the checks it started with, and calls each through a copy.
  const std::size_t n = round->answered.size();
  for (std::size_t i = 0; i < n && !round->finished; ++i) {
    Done done = [this, weak, i](std::string error) {
      auto r = weak.lock();
      if (!r || r->finished || r->answered[i]) return;
      r->answered[i] = true;
      r->results[i].error = std::move(error);
      if (--r->remaining == 0) finish(r);
    };
    try {
      Check check = checks_[i].second;
      check(done);
    } catch (const std::exception& e) {
      done(std::string("threw: ") + e.what());
    } catch (...) {
      done("threw an exception");
    }
  }
}

void HealthChecks::finish(const std::shared_ptr<Round>& round) {
  round->finished = true;
  if (round_ == round) round_.reset();
  Report report = std::move(round->report);
  report(std::move(round->results));
}

}  // namespace rack::worker
