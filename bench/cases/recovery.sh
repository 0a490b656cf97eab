# Comparison 7: latency to recover, 2 workers, Rack (rack-hello) vs PM2
# (hello.js, cluster mode), each repetition from scratch:
#   cold_start  `rackctl start` / `pm2 start` with no daemon running, until
#               both workers have answered GET /whoami (daemon spawn included)
#   kill9       SIGKILL one worker that has served for 1.2 s (past the
#               default min_uptime: a healthy run, as in production), until
#               a new pid answers GET /whoami (both restart at once)
#   ratio       kill9 ÷ cold_start of the same repetition: the issue's
#               target is ≤ 2 (recovering one worker costs no more than
#               twice starting the app afresh)
#   warm_start  the same start with the daemon already running
# Times are taken by bench/lib/benchtool.py polling every ~2 ms.

bench_recovery() {
  say "recovery: start-up and kill -9 recovery, 2 workers, Rack vs PM2"
  local dir="$RUN/recovery" p_rack p_pm2
  mkdir -p "$dir"
  read -r p_rack p_pm2 <<<"$(free_ports 2)"
  cat >"$dir/eco.yaml" <<YAML
rack:
  admin: off
apps:
  - name: hello
    run: [$BIN/rack-hello]
    protocol: rack
    listen: 127.0.0.1:$p_rack
    instances: 2
    env: {LOG_LEVEL: warn}
YAML
  cat >"$dir/pm2.config.js" <<JS
module.exports = { apps: [{
  name: 'hello', script: '$APPS/hello.js', exec_mode: 'cluster', instances: 2,
  env: { PORT: '$p_pm2' }, out_file: '/dev/null', error_file: '/dev/null',
}] };
JS
  local home="$dir/rack"
  RACK_HOMES+=("$home")
  local rep peer
  for rep in $(seq "$REPS"); do
    for peer in rack $( ((WITH_PM2)) && echo pm2); do
      local url start stop pids
      if [[ $peer == rack ]]; then
        url="http://127.0.0.1:$p_rack/whoami"
        start=(env RACK_HOME="$home" "$BIN/rackctl" start "$dir/eco.yaml")
        stop=(env RACK_HOME="$home" "$BIN/rackctl" delete hello)
        rack_down "$home"
      else
        url="http://127.0.0.1:$p_pm2/whoami"
        start=(env PM2_HOME="$PM2_HOME" "$PM2_BIN" start "$dir/pm2.config.js")
        stop=(pm2_cmd delete hello)
        pm2_cmd kill >/dev/null 2>&1
        PM2_USED=1
      fi
      local cold kill9 warm
      cold=$(python3 "$LIB/benchtool.py" ready --url "$url" --n 2 -- "${start[@]}")
      pids=$(jq -r '.pids | join(",")' <<<"$cold")
      sleep 1.2  # past min_uptime: a worker that was serving, not a crash loop
      kill9=$(python3 "$LIB/benchtool.py" recover --url "$url" --kill "${pids%%,*}" --known "$pids")
      "${stop[@]}" >/dev/null 2>&1
      sleep 0.5
      warm=$(python3 "$LIB/benchtool.py" ready --url "$url" --n 2 -- "${start[@]}")
      "${stop[@]}" >/dev/null 2>&1
      local json
      json=$(jq -nc --argjson c "$cold" --argjson k "$kill9" --argjson w "$warm" \
        '{cold_start_ms: $c.ready_ms, cold_cmd_ms: $c.cmd_ms, kill9_ms: $k.recover_ms,
          warm_start_ms: $w.ready_ms, warm_cmd_ms: $w.cmd_ms,
          kill9_over_cold_start: (if $c.ready_ms > 0 then $k.recover_ms / $c.ready_ms else null end)}')
      record recovery "$peer" "$rep" "$json"
      say "  rep $rep $peer: $(jq -r '"cold start \(.cold_start_ms|floor) ms, kill -9 \(.kill9_ms) ms, warm start \(.warm_start_ms|floor) ms"' <<<"$json")"
    done
  done
  rack_down "$home"
  if ((WITH_PM2)); then pm2_cmd kill >/dev/null 2>&1; fi
}
