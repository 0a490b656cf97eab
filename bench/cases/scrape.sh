# Comparison 8: scrape latency of rackd's merged /metrics (admin listener)
# with 16 rack-hello workers, each registering SERIES dummy series via
# `rack-hello --series N` (1,000 in the full run). If rack-hello does not
# have --series yet, the scrape still runs over the workers' default series
# and the report says the 1,000-series part was skipped.

bench_scrape() {
  local series=1000 workers=16
  say "scrape: GET /metrics on the admin listener, $workers workers x $series series"
  local dir="$RUN/scrape" args=()
  mkdir -p "$dir"
  local rc=0
  "$BIN/rack-hello" --series 1 --exit-at-start >/dev/null 2>&1 || rc=$?
  if ((rc == 2)); then
    skip scrape.series "rack-hello has no --series N flag yet (to register N dummy series); scraped the workers' default series instead"
  else
    args=(--series "$series")
  fi
  cat >"$dir/eco.yaml" <<YAML
rack:
  admin: 127.0.0.1:0
apps:
  - name: hello
    run: [$BIN/rack-hello${args:+, ${args[*]}}]
    protocol: rack
    listen: 127.0.0.1:0
    instances: $workers
    env: {LOG_LEVEL: warn}
    ready_timeout: 20s
YAML
  local home="$dir/rack"
  rack_up "$home" "$dir/eco.yaml" || return 1
  local admin app
  admin=$(rack_admin "$home") app=$(rack_listen "$home" hello)
  wrk_json "http://$app/" ka 1 >/dev/null  # every worker has request metrics to report
  sleep 1
  local rep json
  for rep in $(seq "$REPS"); do
    json=$(python3 "$LIB/benchtool.py" scrape --url "http://$admin/metrics" --count "$SCRAPES")
    json=$(jq -c --argjson w "$workers" --argjson s "${args[1]:-0}" '. + {workers: $w, series_per_worker: $s}' <<<"$json")
    record scrape rack "$rep" "$json"
    say "  rep $rep: $(jq -r '"p50 \(.p50_ms) ms, p90 \(.p90_ms) ms, \(.series) series, \(.bytes) bytes"' <<<"$json")"
  done
  rack_down "$home"
}
