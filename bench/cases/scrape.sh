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
    run: [$BIN/rack-hello${args:+, ${args[0]}, ${args[1]}}]
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
  local rep json t0 t1 rackd
  rackd=$(rack_pid "$home")
  for rep in $(seq "$REPS"); do
    # rackd's CPU over the scrapes (it merges every worker's text per
    # scrape; its background collection every 5 s is included, a small bias
    # against Rack).
    t0=$(cpu_ticks "$rackd")
    json=$(python3 "$LIB/benchtool.py" scrape --url "http://$admin/metrics" --count "$SCRAPES")
    t1=$(cpu_ticks "$rackd")
    json=$(jq -c --argjson w "$workers" --argjson s "${args[1]:-0}" --argjson n "$SCRAPES" \
      --argjson cpu_ms "$(((t1 - t0) * 1000 / CLK_TCK))" \
      '. + {workers: $w, series_per_worker: $s, rackd_cpu_ms_per_scrape: ($cpu_ms / $n)}' <<<"$json")
    record scrape rack "$rep" "$json"
    say "  rep $rep: $(jq -r '"p50 \(.p50_ms) ms, p90 \(.p90_ms) ms, \(.series) series, \(.bytes) bytes, rackd CPU \(.rackd_cpu_ms_per_scrape) ms/scrape"' <<<"$json")"
  done
  rack_down "$home"
}
