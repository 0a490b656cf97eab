# Comparisons 1 and 2: connection dispatch (Connection: close, a new
# connection per request) and keep-alive throughput, 2 workers each:
#   rack       rack-hello x2 behind rackd (round-robin, fd passing)
#   reuseport  the same rack-hello x2 listening by themselves (SO_REUSEPORT)
#   nginx      2 workers, return 200 "hello\n"
#   reuseport-again  the reuseport peer once more: its ratio to reuseport is
#              the noise floor of the run
# All of them run at once and take turns of 1 s (benchtool.py turns), so
# machine noise hits them alike.
# Also rackd's CPU time per dispatched connection during the close runs.

bench_dispatch() {
  say "dispatch: Rack vs SO_REUSEPORT vs nginx, 2 workers, close and keep-alive"
  local dir="$RUN/dispatch" p_reuse p_nginx
  mkdir -p "$dir/nginx/tmp"
  read -r p_reuse p_nginx <<<"$(free_ports 2)"

  cat >"$dir/eco.yaml" <<YAML
rack:
  admin: 127.0.0.1:0
apps:
  - name: hello
    run: [$BIN/rack-hello]
    protocol: rack
    listen: 127.0.0.1:0
    instances: 2
    env: {LOG_LEVEL: warn}
YAML
  rack_up "$dir/rack" "$dir/eco.yaml" || return 1
  local home="$dir/rack"
  local rack_addr admin rackd
  rack_addr=$(rack_listen "$home" hello) admin=$(rack_admin "$home") rackd=$(rack_pid "$home")

  # Both baseline workers in one session, as any supervisor (systemd, a
  # shell script, rackd) runs them: with kernel.sched_autogroup_enabled=1
  # the scheduler gives each session one CPU share, so a worker in a session
  # of its own would get more CPU than the same worker under rackd (where
  # rackd and its workers share one session) and the ratio would measure the
  # scheduler, not dispatch. nginx (master + workers) is one session too.
  local peers_bg=()
  start_bg "$dir/reuseport.log" bash -c "for i in 1 2; do LOG_LEVEL=warn \"$BIN/rack-hello\" --listen 127.0.0.1:$p_reuse & done; wait"
  peers_bg+=("$BG_PID")
  sed -e "s|@DIR@|$dir/nginx|g" -e "s|@PORT@|$p_nginx|g" "$APPS/nginx.conf.in" >"$dir/nginx/nginx.conf"
  start_bg "$dir/nginx/stdout.log" nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log"
  peers_bg+=("$BG_PID")

  # Which scheduling group (session) each competitor is in, for the record.
  {
    echo "kernel.sched_autogroup_enabled=$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo n/a)"
    local p
    for p in "$rackd" $(pgrep -s "$(ps -o sid= -p "$rackd" | tr -d " ")") $(pgrep -s "${peers_bg[0]}") $(pgrep -s "${peers_bg[1]}"); do
      echo "$p $(cat "/proc/$p/comm" 2>/dev/null) $(cat "/proc/$p/autogroup" 2>/dev/null)"
    done | sort -u -k1,1n
  } >"$dir/autogroups.txt"

  declare -A url=(
    [rack]="http://$rack_addr/"
    [reuseport]="http://127.0.0.1:$p_reuse/"
    [nginx]="http://127.0.0.1:$p_nginx/"
  )
  local peer
  for peer in rack reuseport nginx; do
    wait_http "${url[$peer]}" || return 1
    ((WARMUP)) && wrk_json "${url[$peer]}" ka 1 >/dev/null
  done

  # reuseport is measured twice, as two peers: how far the same server
  # differs from itself in this run is the noise floor of every ratio.
  local rep mode
  for rep in $(seq "$RATIO_REPS"); do
    for mode in close ka; do
      wrk_turns dispatch "$rep" "$mode" "rack=${url[rack]},rackd=$rackd,admin=$admin,app=hello" \
        "reuseport=${url[reuseport]}" "nginx=${url[nginx]}" "reuseport-again=${url[reuseport]}" || return 1
    done
  done
  rack_down "$home"
  for i in "${peers_bg[@]}"; do stop_bg "$i"; done
}
