# Comparison 11: upgrading the supervisor itself under load, 4 workers,
# keep-alive and Connection: close:
#   rack  rack-hello x4, UPGRADES x `rackctl upgrade --binary <a copy of rackd>`
#         (copies alternate, so every exec loads another file)
#   pm2   hello.js x4 in PM2 cluster mode, `pm2 update` (PM2's own daemon
#         upgrade: save, kill the daemon and every app, resurrect)
# Recorded: failed requests over the whole sequence (wrk socket errors +
# non-2xx), rackd's pause in dispatch per upgrade (rackd.last_upgrade.
# paused_ms: the exec step begins → the new image's first loop turn), the
# loop's stop for the pre-flight 50 ms before it (last_upgrade.check_ms:
# the new binary's --check-state of the state), and the wall
# time of one reload step (a 1-instance reload) as the pause's target.

bench_upgrade() {
  say "upgrade: failed requests during $UPGRADES upgrades of rackd under load, Rack vs pm2 update"
  local dir="$RUN/upgrade" p_pm2
  mkdir -p "$dir"
  p_pm2=$(free_ports 1)
  cp "$BIN/rackd" "$dir/rackd-a" && cp "$BIN/rackd" "$dir/rackd-b"
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
  - name: step
    run: [$BIN/rack-hello]
    protocol: rack
    listen: 127.0.0.1:0
    instances: 1
    env: {LOG_LEVEL: warn}
YAML
  rack_up "$dir/rack" "$dir/eco.yaml" || return 1
  local peers=(rack)
  if ((WITH_PM2)); then
    peers+=(pm2)
    cat >"$dir/pm2.config.js" <<JS
module.exports = { apps: [{
  name: 'hello', script: '$APPS/hello.js', exec_mode: 'cluster', instances: 4,
  env: { PORT: '$p_pm2' }, out_file: '/dev/null', error_file: '$dir/pm2-hello.err.log',
}] };
JS
    pm2_cmd start "$dir/pm2.config.js" >"$dir/pm2-start.log" 2>&1
  fi
  declare -A url=([rack]="http://$(rack_listen "$dir/rack" hello)/" [pm2]="http://127.0.0.1:$p_pm2/")
  local peer
  for peer in "${peers[@]}"; do wait_http "${url[$peer]}" || return 1; done

  local rep mode i json pauses checks st step_ms n=0
  for rep in $(seq "$REPS"); do
    for mode in ka close; do
      for peer in "${peers[@]}"; do
        wrk_start "${url[$peer]}" "$mode" "$dir/wrk.out"
        sleep 1
        pauses=()
        checks=()
        for i in $(seq "$UPGRADES"); do
          if [[ $peer == rack ]]; then
            n=$((n + 1))
            RACK_HOME="$dir/rack" "$BIN/rackctl" upgrade --binary "$dir/rackd-$([[ $((n % 2)) == 0 ]] && echo a || echo b)" \
              >>"$dir/upgrade.log" 2>&1 || warn "  rack upgrade $i failed"
            st=$(RACK_HOME="$dir/rack" "$BIN/rackctl" status --json)
            pauses+=("$(jq '.rackd.last_upgrade.paused_ms' <<<"$st")")
            checks+=("$(jq '.rackd.last_upgrade.check_ms // null' <<<"$st")")
          else
            pm2_cmd update >>"$dir/pm2-update.log" 2>&1 || warn "  pm2 update $i failed"
            pauses+=(null)
            checks+=(null)
          fi
          sleep 0.5
        done
        sleep 1
        wrk_stop
        step_ms=null
        if [[ $peer == rack ]]; then
          local t0=$EPOCHREALTIME
          RACK_HOME="$dir/rack" "$BIN/rackctl" reload step >>"$dir/reload.log" 2>&1 && step_ms=$(ms_since "$t0")
        fi
        json=$(tail -n1 "$dir/wrk.out")
        json=$(jq -c --argjson p "[$(IFS=,; echo "${pauses[*]}")]" --argjson c "[$(IFS=,; echo "${checks[*]}")]" \
          --argjson s "$step_ms" \
          '. + {upgrades: ($p | length), paused_ms: $p, check_ms: $c, reload_step_ms: $s,
                failed: (.err_connect + .err_read + .err_write + .err_timeout + .err_status)}' <<<"$json")
        record upgrade "$mode.$peer" "$rep" "$json"
        say "  rep $rep $mode $peer: $(jq -r '"\(.failed) failed of \(.requests), paused ms \(.paused_ms), pre-flight ms \(.check_ms), one reload step \(.reload_step_ms) ms"' <<<"$json")"
      done
    done
  done
  ((WITH_PM2)) && pm2_cmd delete hello >/dev/null 2>&1
  rack_down "$dir/rack"
}
