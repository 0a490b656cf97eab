# Shared helpers of bench/run: settings, results, process tracking and
# cleanup, wrk, Rack and PM2 wrappers. Sourced, not run.
#
# Every process a benchmark starts is registered here (start_bg, rack_up,
# PM2 through pm2_cmd) so that cleanup() stops it on exit, error or Ctrl-C.

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
LIB="$BENCH/lib"
APPS="$BENCH/apps"
OUT="$BENCH/out"                       # scratch: homes, logs, raw results (git-ignored)
RUN="$OUT/run"                         # per-run state, wiped at start
RESULTS="$OUT/results.jsonl"           # one JSON object per measurement
BIN="${RACK_BIN:-$ROOT/build/bin}"
PM2_BIN="$BENCH/.deps/node_modules/.bin/pm2"
export PM2_HOME="$RUN/pm2"

# The load generator, the same for every peer: one wrk thread and 32
# connections leave the two cores of the reference machine to the servers.
WRK_THREADS=1
WRK_CONNS=32
DURATION=${DURATION:-5}                # seconds each peer is measured per repetition
REPS=${REPS:-3}                        # repetitions; the report takes medians

say() { printf '\033[1m[%s]\033[0m %s\n' "$(date +%T)" "$*" >&2; }
warn() { printf '\033[33m[%s] %s\033[0m\n' "$(date +%T)" "$*" >&2; }

# ---- results ---------------------------------------------------------------

# record GROUP NAME REP JSON: appends JSON with the three keys added.
record() {
  jq -c --arg g "$1" --arg n "$2" --argjson r "$3" '{group: $g, name: $n, rep: $r} + .' <<<"$4" >>"$RESULTS"
}

# skip GROUP REASON: the report prints the reason instead of numbers.
skip() {
  warn "skipped $1: $2"
  jq -nc --arg g "$1" --arg why "$2" '{group: $g, skip: $why}' >>"$RESULTS"
}

# ---- processes ---------------------------------------------------------------

BG_PIDS=()
RACK_HOMES=()
PM2_USED=0

# start_bg LOG CMD...: runs CMD in its own process group (so that stopping it
# also stops its children, e.g. node cluster workers). Sets BG_PID.
start_bg() {
  local log=$1
  shift
  setsid "$@" >"$log" 2>&1 </dev/null &
  BG_PID=$!
  BG_PIDS+=("$BG_PID")
}

# stop_bg PID: SIGTERM to the group, SIGKILL after 3 s.
stop_bg() {
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for i in $(seq 30); do
    kill -0 -- "-$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? h pid
  trap - EXIT INT TERM
  for h in "${RACK_HOMES[@]}"; do rack_down "$h"; done
  [[ -n ${MONIT_TMUX:-} ]] && $MONIT_TMUX kill-server 2>/dev/null
  ((PM2_USED)) && pm2_cmd kill >/dev/null 2>&1
  for pid in "${BG_PIDS[@]}"; do stop_bg "$pid"; done
  [[ -n ${WRK_BG_PID:-} ]] && kill "$WRK_BG_PID" 2>/dev/null
  exit "$rc"
}

# wait_http URL [SECONDS]: until URL answers 200.
wait_http() {
  local i
  for i in $(seq $((${2:-10} * 20))); do
    curl -fs -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.05
  done
  warn "$1 did not answer within ${2:-10} s"
  return 1
}

free_ports() { python3 "$LIB/benchtool.py" freeport "$1"; }

# utime+stime of PID in clock ticks (fields 14 and 15 of /proc/PID/stat,
# counted after the ")" that ends the command name).
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# ---- wrk -----------------------------------------------------------------------

# wrk_json URL MODE [SECONDS]: MODE is ka (keep-alive) or close (a new
# connection per request). Prints wrk_json.lua's JSON line.
wrk_json() {
  local url=$1 mode=$2 secs=${3:-$DURATION} hdr=()
  [[ $mode == close ]] && hdr=(-H 'Connection: close')
  wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${secs}s" "${hdr[@]}" -s "$LIB/wrk_json.lua" "$url" | tail -n1
}

# wrk_turns GROUP REP MODE SPEC...: the peers of one comparison (SPEC is
# NAME=URL, plus ,rackd=PID,admin=ADDR,app=APP for a Rack peer: its rackd's
# CPU time per dispatched connection is added) measured in turns by
# benchtool.py: $DURATION rounds of 1 s each, in balanced orders (every peer
# goes first, and follows every other, equally often). Records one result
# per peer (NAME = MODE.PEER).
wrk_turns() {
  local group=$1 rep=$2 mode=$3 spec args=() json n=0
  shift 3
  for spec; do args+=(--peer "$spec"); done
  while read -r json; do
    record "$group" "$mode.$(jq -r .name <<<"$json")" "$rep" "$(jq -c 'del(.name)' <<<"$json")"
    say "  rep $rep $mode $(jq -r '"\(.name): \(.rps|floor) req/s, errors \(.err_connect + .err_read + .err_write + .err_timeout + .err_status)"' <<<"$json")"
    n=$((n + 1))
  done < <(python3 "$LIB/benchtool.py" turns --mode "$mode" --turns "$DURATION" --secs 1 \
             --lua "$LIB/wrk_json.lua" --threads "$WRK_THREADS" --conns "$WRK_CONNS" --rep "$rep" "${args[@]}")
  ((n == $#)) || { warn "wrk_turns $group rep $rep $mode: $n results for $# peers"; return 1; }
}

# wrk_start URL MODE OUTFILE: a long wrk in the background, ended by wrk_stop
# (SIGINT makes wrk stop and print its summary, whose JSON is then the last
# line of OUTFILE). Not in $(...): wait only works in the shell that started wrk.
wrk_start() {
  local url=$1 mode=$2 hdr=()
  [[ $mode == close ]] && hdr=(-H 'Connection: close')
  wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d600s "${hdr[@]}" -s "$LIB/wrk_json.lua" "$url" >"$3" 2>&1 &
  WRK_BG_PID=$!
}
wrk_stop() {
  kill -INT "$WRK_BG_PID"
  wait "$WRK_BG_PID" || true
  WRK_BG_PID=
}

# ---- Rack ----------------------------------------------------------------------

# rack_status HOME: GET /v1/status as JSON.
rack_status() { RACK_HOME="$1" "$BIN/rackctl" status --json; }

# rack_wait_ready HOME [SECONDS]: until every worker of every app is ready.
rack_wait_ready() {
  local i
  for i in $(seq $((${2:-20} * 10))); do
    rack_status "$1" 2>/dev/null |
      jq -e '[.apps[].workers[].state] | length > 0 and all(. == "ready")' >/dev/null && return 0
    sleep 0.1
  done
  warn "Rack apps in $1 not ready within ${2:-20} s"
  return 1
}

# rack_up HOME ECOSYSTEM [SECONDS]: starts rackd (if needed) and the file's
# apps, and waits (20 s unless told) for all workers to be ready.
rack_up() {
  local home=$1 eco=$2
  [[ " ${RACK_HOMES[*]} " == *" $home "* ]] || RACK_HOMES+=("$home")
  RACK_HOME="$home" "$BIN/rackctl" start "$eco" >"$home.start.log" 2>&1 || {
    warn "rackctl start $eco failed: $(tail -n3 "$home.start.log")"
    return 1
  }
  rack_wait_ready "$home" "${3:-20}"
}

# rack_down HOME: rackctl kill, then SIGKILL rackd if it is still there.
rack_down() {
  local home=$1 pid
  [[ -f $home/rackd.pid ]] || return 0
  pid=$(cat "$home/rackd.pid" 2>/dev/null)
  RACK_HOME="$home" timeout 35 "$BIN/rackctl" kill >/dev/null 2>&1 || true
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && grep -q rackd "/proc/$pid/comm" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

rack_listen() { rack_status "$1" | jq -r --arg a "$2" '.apps[] | select(.name == $a) | .listen'; }
rack_admin() { rack_status "$1" | jq -r '.rackd.admin'; }
rack_pid() { rack_status "$1" | jq -r '.rackd.pid'; }
rack_worker_pids() { rack_status "$1" | jq -r --arg a "$2" '[.apps[] | select(.name == $a) | .workers[].pid] | join(",")'; }

# ---- PM2 -----------------------------------------------------------------------

# PM2 with its own PM2_HOME under bench/out: never the user's ~/.pm2.
pm2_cmd() {
  PM2_USED=1
  "$PM2_BIN" "$@"
}
pm2_daemon_pid() { cat "$PM2_HOME/pm2.pid" 2>/dev/null; }
pm2_pids() { pm2_cmd jlist 2>/dev/null | jq -r --arg a "$1" '[.[] | select(.name == $a) | .pid] | join(",")'; }

# ms_since EPOCHREALTIME_VALUE: milliseconds elapsed, one decimal.
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }'; }

# The 2 apps x 4 idle rack-hello workers, and the same as a PM2 cluster file,
# that the footprint and monit comparisons run: $1/eco.yaml and
# $1/pm2.config.js, PM2's apps on ports $2 and $3.
write_two_apps() {
  cat >"$1/eco.yaml" <<YAML
rack:
  admin: 127.0.0.1:0
apps:
  - {name: a, run: [$BIN/rack-hello], protocol: rack, listen: "127.0.0.1:0", instances: 4, env: {LOG_LEVEL: warn}}
  - {name: b, run: [$BIN/rack-hello], protocol: rack, listen: "127.0.0.1:0", instances: 4, env: {LOG_LEVEL: warn}}
YAML
  cat >"$1/pm2.config.js" <<JS
const app = (name, port) => ({
  name, script: '$APPS/hello.js', exec_mode: 'cluster', instances: 4,
  env: { PORT: String(port) }, out_file: '/dev/null', error_file: '/dev/null',
});
module.exports = { apps: [app('a', $2), app('b', $3)] };
JS
}
