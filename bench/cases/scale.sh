# Comparison 12: how rackd's own costs grow with the number of workers:
# 10 (5 apps x 2), 100 (25 x 4) and 400 (100 x 4) idle rack-hello workers
# under one rackd. For each size:
#   rss_kb            rackd's VmRSS once every worker is ready
#   status_ms         `rackctl status` wall time (the table a person runs),
#                     median of $SCALE_STATUS_RUNS runs
#   idle_cpu_percent  rackd's utime+stime over $SCALE_IDLE_SECS with no
#                     load, % of one core
#   reload_ms_per_worker  `rackctl reload all` wall time / workers (every
#                     app reloads at once, each one slot at a time)
#   start_ms, fds, nofile: start until all ready, rackd's open descriptors
#                     and its RLIMIT_NOFILE soft limit
# Targets at 400: RSS <= 32 MiB, status <= 50 ms, idle CPU <= 1%.

SCALE_SIZES=${SCALE_SIZES:-10 100 400}
SCALE_IDLE_SECS=${SCALE_IDLE_SECS:-30}
SCALE_STATUS_RUNS=${SCALE_STATUS_RUNS:-7}

# scale_eco FILE APPS PER_APP: APPS apps of PER_APP rack-hello workers each,
# every one on a port the kernel picks; short ready and backoff settings so
# that 400 workers start and reload in seconds.
scale_eco() {
  local i
  {
    printf 'rack:\n  admin: 127.0.0.1:0\napps:\n'
    for i in $(seq "$2"); do
      printf '  - {name: s%d, run: [%s], protocol: rack, listen: "127.0.0.1:0", instances: %d, ' "$i" "$BIN/rack-hello" "$3"
      printf 'ready_timeout: 20s, kill_timeout: 2s, restart: {backoff_initial: 50ms}, env: {LOG_LEVEL: warn}}\n'
    done
  } >"$1"
}

bench_scale() {
  say "scale: rackd's RSS, status latency, idle CPU and reload time with 10, 100, 400 workers"
  local dir="$RUN/scale" n
  mkdir -p "$dir"
  for n in $SCALE_SIZES; do
    scale_one "$dir" "$n" || warn "scale: $n workers failed; see $dir"
  done
}

# scale_one DIR WORKERS: one size, recorded as scale/wN.
scale_one() {
  local dir=$1 n=$2 per=4
  ((n < 100)) && per=2
  local apps=$(((n + per - 1) / per)) home="$dir/w$n"
  scale_eco "$dir/w$n.yaml" "$apps" "$per"
  local t=$EPOCHREALTIME
  rack_up "$home" "$dir/w$n.yaml" 120 || return 1
  local start_ms rackd
  start_ms=$(ms_since "$t")
  rackd=$(rack_pid "$home")
  local workers
  workers=$(rack_status "$home" | jq '[.apps[].workers[]] | length')
  sleep 3  # let start-up's allocations and first samples settle
  local rss fds nofile
  rss=$(rss_kb "$rackd")
  fds=$(find "/proc/$rackd/fd" -mindepth 1 -maxdepth 1 | wc -l)
  nofile=$(awk '/^Max open files/ { print $4 }' "/proc/$rackd/limits")
  local i times=()
  for i in $(seq "$SCALE_STATUS_RUNS"); do
    t=$EPOCHREALTIME
    RACK_HOME="$home" "$BIN/rackctl" status >/dev/null
    times+=("$(ms_since "$t")")
  done
  local status_ms
  status_ms=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  local c0 c1 idle
  c0=$(cpu_ticks "$rackd") t=$EPOCHREALTIME
  sleep "$SCALE_IDLE_SECS"
  c1=$(cpu_ticks "$rackd")
  idle=$(awk -v c="$((c1 - c0))" -v hz="$CLK_TCK" -v s="$(ms_since "$t")" 'BEGIN { printf "%.3f", 100 * c / hz / (s / 1000) }')
  t=$EPOCHREALTIME
  RACK_HOME="$home" timeout 600 "$BIN/rackctl" reload all >"$dir/w$n.reload.log" 2>&1 || warn "scale: reload of $n workers failed"
  local reload_ms
  reload_ms=$(ms_since "$t")
  local json
  json=$(jq -nc --argjson w "$workers" --argjson apps "$apps" --argjson rss "$rss" --argjson st "$status_ms" \
    --argjson idle "$idle" --argjson rl "$reload_ms" --argjson start "$start_ms" --argjson fds "$fds" \
    --arg nofile "$nofile" --argjson secs "$SCALE_IDLE_SECS" --arg runs "${times[*]}" \
    '{workers: $w, apps: $apps, rss_kb: $rss, status_ms: $st, status_runs_ms: ($runs | split(" ") | map(tonumber)),
      idle_cpu_percent: $idle, idle_secs: $secs, reload_ms: $rl, reload_ms_per_worker: ($rl / $w),
      start_ms: $start, fds: $fds, nofile: $nofile}')
  record scale "w$n" 1 "$json"
  say "  $workers workers: $(jq -r '"rackd \(.rss_kb) KiB, status \(.status_ms) ms, idle CPU \(.idle_cpu_percent)%, reload \(.reload_ms_per_worker | floor) ms/worker, \(.fds) fds (limit \(.nofile))"' <<<"$json")"
  rack_down "$home"
}
