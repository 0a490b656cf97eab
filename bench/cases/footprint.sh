# Comparison 6: the supervisor's own memory with 2 apps x 4 workers:
#   rack  rackd's RSS, apps: rack-hello x4 and x4
#   pm2   PM2 daemon's ("God") RSS, apps: hello.js x4 and x4, cluster mode
# Read from /proc/PID/status (VmRSS) after every app took a second of load;
# the workers' total RSS is reported too (a different app, for scale only).

bench_footprint() {
  say "footprint: supervisor RSS with 2 apps x 4 workers, Rack vs PM2"
  local dir="$RUN/footprint" pa pb
  mkdir -p "$dir"
  read -r pa pb <<<"$(free_ports 2)"
  write_two_apps "$dir" "$pa" "$pb"
  local home="$dir/rack"
  rack_up "$home" "$dir/eco.yaml" || return 1
  local rackd pm2d peers=(rack)
  if ((WITH_PM2)); then
    pm2_cmd kill >/dev/null 2>&1  # a fresh daemon, as a fresh rackd
    pm2_cmd start "$dir/pm2.config.js" >"$dir/pm2-start.log" 2>&1
    pm2d=$(pm2_daemon_pid) peers+=(pm2)
  fi
  rackd=$(rack_pid "$home")
  declare -A urls=(
    [rack]="http://$(rack_listen "$home" a)/ http://$(rack_listen "$home" b)/"
    [pm2]="http://127.0.0.1:$pa/ http://127.0.0.1:$pb/"
  )
  local rep peer u json
  for rep in $(seq "$REPS"); do
    for peer in "${peers[@]}"; do
      for u in ${urls[$peer]}; do
        wait_http "$u" && wrk_json "$u" close 1 >/dev/null
      done
      if [[ $peer == rack ]]; then
        json=$(footprint_json "$rackd" "$(rack_worker_pids "$home" a),$(rack_worker_pids "$home" b)")
      else
        json=$(footprint_json "$pm2d" "$(pm2_pids a),$(pm2_pids b)")
      fi
      record footprint "$peer" "$rep" "$json"
      say "  rep $rep $peer: $(jq -r '"supervisor \(.supervisor_rss_kb) KiB, \(.workers) workers \(.workers_rss_kb) KiB"' <<<"$json")"
    done
  done
  ((WITH_PM2)) && pm2_cmd delete all >/dev/null 2>&1
  rack_down "$home"
}

# footprint_json SUPERVISOR_PID WORKER_PIDS(comma-separated)
footprint_json() {
  local total=0 n=0 p
  for p in ${2//,/ }; do
    total=$((total + $(rss_kb "$p"))) n=$((n + 1))
  done
  jq -nc --argjson s "$(rss_kb "$1")" --argjson w "$total" --argjson n "$n" \
    '{supervisor_rss_kb: $s, workers: $n, workers_rss_kb: $w}'
}
