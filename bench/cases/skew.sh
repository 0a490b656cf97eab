# Comparison 9: skewed load, 2 workers each. Client processes, each a closed
# loop of Connection: close requests; every 10th is /spin?ms=10 (10 ms of
# busy loop in the worker), the rest /. What counts is the p99 of the fast
# requests: a fast request dispatched to a worker busy spinning waits for it.
# Two loads: 2 clients (as many as workers: a free worker is there for the
# balancer to find) and 4 (both workers spinning at once much of the time:
# a fast request must wait for one, whoever dispatches it).
#   least-conn   rack-hello x2 behind rackd, dispatch: least-connections
#   round-robin  the same, dispatch: round-robin
#   reuseport    rack-hello x2 listening by themselves (SO_REUSEPORT)
#   nginx        nginx `least_conn` proxying to 2 rack-hello (its own listeners)
# Target: least-conn p99 <= 0.5x reuseport's at 2 clients; 4 is a reference.

bench_skew() {
  say "skew: least-connections vs round-robin vs SO_REUSEPORT vs nginx least_conn, 10% CPU-heavy"
  local dir="$RUN/skew" p_reuse p_nginx p_up1 p_up2 policy
  mkdir -p "$dir/nginx/tmp"
  read -r p_reuse p_nginx p_up1 p_up2 <<<"$(free_ports 4)"
  for policy in least-connections round-robin; do
    cat >"$dir/$policy.yaml" <<YAML
rack:
  admin: off
apps:
  - name: hello
    run: [$BIN/rack-hello]
    protocol: rack
    listen: 127.0.0.1:0
    instances: 2
    dispatch: $policy
    env: {LOG_LEVEL: warn}
YAML
    rack_up "$dir/$policy" "$dir/$policy.yaml" || return 1
  done
  start_bg "$dir/reuseport.log" bash -c "for i in 1 2; do LOG_LEVEL=warn \"$BIN/rack-hello\" --listen 127.0.0.1:$p_reuse & done; wait"
  local reuse_bg=$BG_PID
  start_bg "$dir/upstreams.log" bash -c "LOG_LEVEL=warn \"$BIN/rack-hello\" --listen 127.0.0.1:$p_up1 & LOG_LEVEL=warn \"$BIN/rack-hello\" --listen 127.0.0.1:$p_up2 & wait"
  local up_bg=$BG_PID
  cat >"$dir/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/tmp;
  proxy_temp_path $dir/nginx/tmp;
  upstream hello { least_conn; server 127.0.0.1:$p_up1; server 127.0.0.1:$p_up2; }
  server { listen 127.0.0.1:$p_nginx; location / { proxy_pass http://hello; } }
}
NGINX
  start_bg "$dir/nginx/stdout.log" nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log"
  local nginx_bg=$BG_PID

  local -A url=(
    [least-conn]="http://$(rack_listen "$dir/least-connections" hello)/"
    [round-robin]="http://$(rack_listen "$dir/round-robin" hello)/"
    [reuseport]="http://127.0.0.1:$p_reuse/"
    [nginx]="http://127.0.0.1:$p_nginx/"
  )
  local peer args=()
  for peer in least-conn round-robin reuseport nginx; do
    wait_http "${url[$peer]}" || return 1
    args+=(--peer "$peer=${url[$peer]}")
  done
  local conns group
  for conns in 2 4; do
    group=skew; ((conns == 2)) || group=skew$conns
    python3 "$LIB/benchtool.py" skew --conns "$conns" --rounds "${SKEW_ROUNDS:-3}" --secs "${SKEW_SECS:-3}" "${args[@]}" |
      while read -r line; do record "$group" "$(jq -r .peer <<<"$line")" 1 "$line"; done
  done
  rack_down "$dir/least-connections"
  rack_down "$dir/round-robin"
  for i in "$reuse_bg" "$up_bg" "$nginx_bg"; do stop_bg "$i"; done
}
