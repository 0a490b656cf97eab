# Comparison 4: failed requests while reloading under load, keep-alive and
# Connection: close, 4 workers:
#   rack       rack-hello x4, `rackctl reload hello`
#   rack-node  hello.js x4 under Rack protocol: node (when it works)
#   pm2        hello.js x4 in PM2 cluster mode, `pm2 reload hello`
# wrk runs for the whole sequence of RELOADS reloads; a failure is any wrk
# socket error (connect, read, write, timeout) or non-2xx/3xx response. Also
# the wall time of each reload command (PM2's includes its CLI's start-up,
# as a user sees it).

bench_reload() {
  say "reload: failed requests during $RELOADS reloads of 4 workers under load, Rack vs PM2"
  local dir="$RUN/reload" p_pm2
  mkdir -p "$dir"
  p_pm2=$(free_ports 1)

  cat >"$dir/eco.yaml" <<YAML
rack:
  admin: off
apps:
  - name: hello
    run: [$BIN/rack-hello]
    protocol: rack
    listen: 127.0.0.1:0
    instances: 4
    env: {LOG_LEVEL: warn}
YAML
  rack_up "$dir/rack" "$dir/eco.yaml" || return 1

  local peers=(rack)
  ((WITH_PM2)) && peers+=(pm2)
  cat >"$dir/pm2.config.js" <<JS
module.exports = { apps: [{
  name: 'hello', script: '$APPS/hello.js', exec_mode: 'cluster', instances: 4,
  env: { PORT: '$p_pm2' }, out_file: '/dev/null', error_file: '$dir/pm2-hello.err.log',
}] };
JS
  ((WITH_PM2)) && pm2_cmd start "$dir/pm2.config.js" >"$dir/pm2-start.log" 2>&1

  declare -A url=([rack]="http://$(rack_listen "$dir/rack" hello)/" [pm2]="http://127.0.0.1:$p_pm2/")
  declare -A reload=([rack]="reload_rack $dir/rack" [pm2]="reload_pm2")
  mkdir -p "$dir/node"
  # The node app's reloads wait for node to start: not in the smoke run.
  if ((WITH_PM2)) && node_rack_up "$dir/node" 4 reload.rack-node; then
    url[rack-node]="http://$(rack_listen "$dir/node/rack" hello)/"
    reload[rack-node]="reload_rack $dir/node/rack"
    peers+=(rack-node)
  fi
  local peer
  for peer in "${peers[@]}"; do wait_http "${url[$peer]}" || return 1; done

  local rep mode i json times ms
  for rep in $(seq "$REPS"); do
    for mode in ka close; do
      for peer in "${peers[@]}"; do
        wrk_start "${url[$peer]}" "$mode" "$dir/wrk.out"
        sleep 1
        times=()
        for i in $(seq "$RELOADS"); do
          ms=$(${reload[$peer]}) || warn "  $peer reload $i failed"
          times+=("$ms")
          sleep 0.5
        done
        sleep 1
        wrk_stop
        json=$(tail -n1 "$dir/wrk.out")
        json=$(jq -c --argjson t "[$(IFS=,; echo "${times[*]}")]" \
          '. + {reloads: ($t | length), reload_ms: $t,
                failed: (.err_connect + .err_read + .err_write + .err_timeout + .err_status)}' <<<"$json")
        record reload "$mode.$peer" "$rep" "$json"
        say "  rep $rep $mode $peer: $(jq -r '"\(.failed) failed of \(.requests), reload ms \(.reload_ms)"' <<<"$json")"
      done
    done
  done
  ((WITH_PM2)) && pm2_cmd delete hello >/dev/null 2>&1
  rack_down "$dir/rack"
  rack_down "$dir/node/rack"
}

# Each prints the reload's wall time in ms; non-zero exit if it failed.
reload_rack() {
  local t0=$EPOCHREALTIME rc=0
  RACK_HOME="$1" "$BIN/rackctl" reload hello >>"$1.reload.log" 2>&1 || rc=$?
  ms_since "$t0"
  return $rc
}
reload_pm2() {
  local t0=$EPOCHREALTIME rc=0
  pm2_cmd reload hello >>"$RUN/reload/pm2-reload.log" 2>&1 || rc=$?
  ms_since "$t0"
  return $rc
}
