# Comparison 13: autoscaling under a step load. Two apps under one rackd,
# measured one after the other with the same load:
#   auto   rack-hello, instances: {min: 1, max: 4}, scale: {busy: 0.7} with
#          up_after 2s and cooldown 4s (the defaults, 3s and 30s, are for
#          production; phases of 10 s need shorter ones)
#   fixed  rack-hello, instances: 1
# The load (bench/lib/benchtool.py step): wrk with $AUTOSCALE_PHASES
# (connections:seconds), each connection a closed loop of GET /spin?ms=10
# (10 ms of CPU in the worker) with 40 ms of think time between requests:
# 2 connections want about a third of a core, 8 about 1.6 cores, more than
# one worker can give. The ready-worker count is sampled every 250 ms.
# Reported: the worker count per phase, and the p99 of the high phase,
# autoscaled against fixed.

AUTOSCALE_PHASES=${AUTOSCALE_PHASES:-2:10,8:10,2:10}

bench_autoscale() {
  say "autoscale: step load ($AUTOSCALE_PHASES conns:s) against instances {min: 1, max: 4} and a fixed 1"
  local dir="$RUN/autoscale"
  mkdir -p "$dir"
  cat >"$dir/eco.yaml" <<YAML
rack:
  admin: 127.0.0.1:0
apps:
  - name: auto
    run: [$BIN/rack-hello]
    protocol: rack
    listen: 127.0.0.1:0
    instances: {min: 1, max: 4}
    scale: {busy: 0.7, up_after: 2s, cooldown: 4s}
    env: {LOG_LEVEL: warn}
  - name: fixed
    run: [$BIN/rack-hello]
    protocol: rack
    listen: 127.0.0.1:0
    instances: 1
    env: {LOG_LEVEL: warn}
YAML
  local home="$dir/rack"
  rack_up "$home" "$dir/eco.yaml" || return 1
  local admin app json
  admin=$(rack_admin "$home")
  for app in auto fixed; do
    sleep 2  # the other app's load has ended
    json=$(python3 "$LIB/benchtool.py" step --url "http://$(rack_listen "$home" "$app")/spin?ms=10" \
      --admin "$admin" --app "$app" --phases "$AUTOSCALE_PHASES" --think-ms 40) || return 1
    record autoscale "$app" 1 "$json"
    say "  $app: $(jq -r '[.phases[] | "\(.conns) conns: workers \(.workers_min)-\(.workers_max), p99 \(.lat_p99_ms) ms"] | join("; ")' <<<"$json")"
  done
  rack_down "$home"
}
