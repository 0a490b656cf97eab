# Comparison 3: the same Node.js app (apps/hello.js), 2 workers, keep-alive
# and Connection: close:
#   rack-node     Rack `protocol: node` (rackd as the cluster primary)
#   pm2           PM2 cluster mode
#   node-cluster  node's own cluster module (apps/cluster.js)
#   node-alone    one node process, no cluster (a reference, not a peer)
# Rack's part runs only when rackd can serve a node app: until `protocol:
# node` works it is skipped, with rackd's reason in the report.

bench_node() {
  say "node: Rack protocol node vs PM2 cluster vs node cluster, 2 workers"
  local dir="$RUN/node" p_alone p_cluster p_pm2
  mkdir -p "$dir"
  read -r p_alone p_cluster p_pm2 <<<"$(free_ports 3)"
  local bg=() peers=(node-cluster)
  start_bg "$dir/cluster.log" env PORT="$p_cluster" WORKERS=2 node "$APPS/cluster.js"
  bg+=("$BG_PID")
  if ((WITH_PM2)); then
    start_bg "$dir/alone.log" env PORT="$p_alone" node "$APPS/hello.js"
    bg+=("$BG_PID")
    peers+=(pm2 node-alone)
    node_pm2_up "$dir" "$p_pm2"
  fi

  declare -A url=(
    [node-alone]="http://127.0.0.1:$p_alone/"
    [node-cluster]="http://127.0.0.1:$p_cluster/"
    [pm2]="http://127.0.0.1:$p_pm2/"
  )
  local rackd="" admin=""
  if node_rack_up "$dir" 2 node.rack-node; then
    url[rack-node]="http://$(rack_listen "$dir/rack" hello)/"
    rackd=$(rack_pid "$dir/rack") admin=$(rack_admin "$dir/rack")
    peers=(rack-node "${peers[@]}")
  fi

  local peer
  for peer in "${peers[@]}"; do
    wait_http "${url[$peer]}" || return 1
    ((WARMUP)) && wrk_json "${url[$peer]}" ka 1 >/dev/null  # and JIT
  done

  local rep mode specs=()
  for peer in "${peers[@]}"; do
    if [[ $peer == rack-node ]]; then
      specs+=("$peer=${url[$peer]},rackd=$rackd,admin=$admin,app=hello")
    else
      specs+=("$peer=${url[$peer]}")
    fi
  done
  for rep in $(seq "$RATIO_REPS"); do
    for mode in close ka; do
      wrk_turns node "$rep" "$mode" "${specs[@]}" || return 1
    done
  done
  ((WITH_PM2)) && pm2_cmd delete hello >/dev/null 2>&1
  rack_down "$dir/rack"
  for k in "${bg[@]}"; do stop_bg "$k"; done
}

node_pm2_up() {
  cat >"$1/pm2.config.js" <<JS
module.exports = { apps: [{
  name: 'hello', script: '$APPS/hello.js', exec_mode: 'cluster', instances: 2,
  env: { PORT: '$2' }, out_file: '/dev/null', error_file: '$1/pm2-hello.err.log',
}] };
JS
  pm2_cmd start "$1/pm2.config.js" >"$1/pm2-start.log" 2>&1
}

# node_rack_up DIR INSTANCES GROUP: starts hello.js under Rack `protocol:
# node` in DIR/rack; on failure records under GROUP why the Rack part is
# skipped and returns 1.
node_rack_up() {
  local dir=$1 instances=$2 group=$3
  cat >"$dir/eco.yaml" <<YAML
rack:
  admin: 127.0.0.1:0
apps:
  - name: hello
    run: [node, $APPS/hello.js]
    protocol: node
    listen: 127.0.0.1:0
    instances: $instances
    ready_timeout: 5s
YAML
  local why=""
  if ! RACK_HOME="$dir/rack" "$BIN/rackctl" start "$dir/eco.yaml" >"$dir/rack-start.log" 2>&1; then
    why="rackctl start failed: $(grep -v '^\s*$' "$dir/rack-start.log" | tail -n1)"
  fi
  RACK_HOMES+=("$dir/rack")
  if [[ -z $why ]] && ! rack_wait_ready "$dir/rack" 10; then
    why="workers not ready within 10 s ($(rack_status "$dir/rack" | jq -c '[.apps[].workers[].state]'))"
  fi
  if [[ -z $why ]] && ! wait_http "http://$(rack_listen "$dir/rack" hello)/" 5; then
    why="workers ready but no HTTP answer"
  fi
  if [[ -n $why ]]; then
    skip "$group" "Rack protocol: node does not serve hello.js yet: $why"
    rack_down "$dir/rack"
    return 1
  fi
}
