# Comparison 10: the CPU a terminal dashboard costs while idle, 2 apps x 4
# workers, both dashboards on screen at the same time for $MONIT_SECS:
#   rack  `rackctl monit` (ncurses; 1 refresh a second)
#   pm2   `pm2 monit` (blessed), known to burn a CPU (pm2#2793)
# Each runs in its own detached tmux session of 120x40, as a person would
# leave it open. Measured: the dashboard process's utime+stime over the
# window, and the supervisor daemon's over the same window (what serving the
# dashboard costs it, plus its own idle work).

MONIT_SECS=${MONIT_SECS:-60}

bench_monit() {
  local tmux
  tmux=$(command -v tmux) || { skip monit "tmux is not installed (scripts/install-deps --test)"; return 0; }
  say "monit: idle CPU of rackctl monit vs pm2 monit over $MONIT_SECS s"
  local dir="$RUN/monit" pa pb
  mkdir -p "$dir"
  read -r pa pb <<<"$(free_ports 2)"
  write_two_apps "$dir" "$pa" "$pb"
  local home="$dir/rack" sock="$dir/tmux.sock"
  rack_up "$home" "$dir/eco.yaml" || return 1
  MONIT_TMUX="$tmux -S $sock -f /dev/null"
  $MONIT_TMUX new-session -d -s rack -x 120 -y 40 "env RACK_HOME=$home $BIN/rackctl monit"
  local peers=(rack) pm2d=
  if ((WITH_PM2)); then
    pm2_cmd kill >/dev/null 2>&1
    pm2_cmd start "$dir/pm2.config.js" >"$dir/pm2-start.log" 2>&1
    pm2d=$(pm2_daemon_pid) peers+=(pm2)
    $MONIT_TMUX new-session -d -s pm2 -x 120 -y 40 "env PM2_HOME=$PM2_HOME $PM2_BIN monit"
  fi
  sleep 5  # both dashboards drawn and settled
  declare -A pid=([rack]=$($MONIT_TMUX display-message -p -t rack '#{pane_pid}')) daemon=([rack]=$(rack_pid "$home"))
  if ((WITH_PM2)); then
    pid[pm2]=$($MONIT_TMUX display-message -p -t pm2 '#{pane_pid}') daemon[pm2]=$pm2d
  fi
  declare -A t0 d0
  local p t_start=$EPOCHREALTIME
  for p in "${peers[@]}"; do t0[$p]=$(cpu_ticks "${pid[$p]}") d0[$p]=$(cpu_ticks "${daemon[$p]}"); done
  sleep "$MONIT_SECS"
  local secs json
  secs=$(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
  for p in "${peers[@]}"; do
    json=$(jq -nc --argjson t "$(( $(cpu_ticks "${pid[$p]}") - ${t0[$p]} ))" \
      --argjson d "$(( $(cpu_ticks "${daemon[$p]}") - ${d0[$p]} ))" --argjson hz "$CLK_TCK" --argjson s "$secs" \
      '{secs: $s, monit_cpu_percent: (100 * $t / $hz / $s), daemon_cpu_percent: (100 * $d / $hz / $s)}')
    record monit "$p" 1 "$json"
    say "  $p: $(jq -r '"monit \(.monit_cpu_percent * 100 | round / 100)% CPU, daemon \(.daemon_cpu_percent * 100 | round / 100)%"' <<<"$json")"
  done
  $MONIT_TMUX capture-pane -p -t rack >"$dir/rack-screen.txt" 2>/dev/null
  ((WITH_PM2)) && $MONIT_TMUX capture-pane -p -t pm2 >"$dir/pm2-screen.txt" 2>/dev/null
  $MONIT_TMUX kill-server 2>/dev/null
  MONIT_TMUX=
  ((WITH_PM2)) && pm2_cmd delete all >/dev/null 2>&1
  rack_down "$home"
}
