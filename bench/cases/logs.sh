# Comparison 5: log capture. The same producer (apps/lines.c: LOG_LINES
# numbered 72-byte lines to stdout, then it waits to be stopped) writes
#   pipe   through a plain pipe into a file: lines | cat > file
#   rack   to Rack (`protocol: none`), rotated at 8 MiB, gzip on, no prefix
#   pm2    to PM2 (fork mode, `interpreter: none`), one plain file
# Lines/s = LOG_LINES / (time the last line is in the file - the producer's
# own start time), so how each one starts the program does not count. Then
# every file (current and rotated, gunzipped) is checked: each line exactly
# once.

bench_logs() {
  say "logs: capture of $LOG_LINES lines, Rack (rotated, gzip) vs plain pipe vs PM2"
  local dir="$RUN/logs" rep peer
  mkdir -p "$dir"
  local last
  last=$(printf 'L%09d ' "$LOG_LINES")
  for rep in $(seq "$RATIO_REPS"); do
    for peer in pipe rack $( ((WITH_PM2)) && echo pm2); do
      rm -rf "${dir:?}/$peer" && mkdir -p "$dir/$peer"
      "logs_$peer" "$dir/$peer" "$last" || { warn "  logs $peer failed"; continue; }
      local json
      json=$(jq -c -n --argjson v "$(cat "$dir/$peer/verify.json")" \
        --argjson t0 "$(cat "$dir/$peer/stamp")" --argjson t1 "$(cat "$dir/$peer/end")" --argjson n "$LOG_LINES" \
        '$v + {seconds: ($t1 - $t0), lines_per_s: ($n / ($t1 - $t0)), lost: $v.missing}')
      record logs "$peer" "$rep" "$json"
      say "  rep $rep $peer: $(jq -r '"\(.lines_per_s|floor) lines/s, \(.missing) lost, \(.duplicated) duplicated, \(.files) files"' <<<"$json")"
    done
  done
}

# Each runner: DIR LAST_LINE_PREFIX. Writes DIR/stamp (start), DIR/end
# (when the last line landed) and DIR/verify.json.
wait_tail_bg() {
  python3 "$LIB/benchtool.py" wait-tail --file "$1" --needle "$2" --timeout 120 >"$3" &
  TAIL_PID=$!
  sleep 0.2  # let python start before the producer does
}

logs_pipe() {
  local d=$1
  wait_tail_bg "$d/out.log" "$2" "$d/end"
  start_bg "$d/shell.log" bash -c "\"$RUN/lines\" $LOG_LINES \"$d/stamp\" --hold | cat >\"$d/out.log\""
  wait "$TAIL_PID"
  stop_bg "$BG_PID"
  python3 "$LIB/benchtool.py" verify-lines --n "$LOG_LINES" "$d/out.log" >"$d/verify.json"
}

logs_rack() {
  local d=$1
  cat >"$d/eco.yaml" <<YAML
rack:
  admin: off
apps:
  - name: lines
    run: [$RUN/lines, "$LOG_LINES", $d/stamp, --hold]
    protocol: none
    instances: 1
    logs: {max_size: 8M, keep: 100, compress: true, time: false}
YAML
  RACK_HOMES+=("$d/home")
  wait_tail_bg "$d/home/logs/lines.out.log" "$2" "$d/end"
  RACK_HOME="$d/home" "$BIN/rackctl" start "$d/eco.yaml" >"$d/start.log" 2>&1
  wait "$TAIL_PID"
  # Rotated files are gzipped off rackd's loop: wait until none is left
  # uncompressed (or half-compressed) before counting.
  local i
  for i in $(seq 100); do
    compgen -G "$d/home/logs/lines.out.?*.log" >/dev/null || compgen -G "$d/home/logs/*.tmp.*" >/dev/null || break
    sleep 0.1
  done
  RACK_HOME="$d/home" "$BIN/rackctl" stop lines >/dev/null 2>&1
  python3 "$LIB/benchtool.py" verify-lines --n "$LOG_LINES" $(ls "$d"/home/logs/lines.out*.log "$d"/home/logs/lines.out*.log.gz 2>/dev/null) >"$d/verify.json"
  rack_down "$d/home"
}

logs_pm2() {
  local d=$1
  cat >"$d/pm2.config.js" <<JS
module.exports = { apps: [{
  name: 'lines', script: '$RUN/lines', args: ['$LOG_LINES', '$d/stamp', '--hold'],
  interpreter: 'none', exec_mode: 'fork', autorestart: false,
  out_file: '$d/out.log', error_file: '$d/err.log',
}] };
JS
  pm2_cmd ping >/dev/null 2>&1  # the daemon is up before the clock starts
  wait_tail_bg "$d/out.log" "$2" "$d/end"
  pm2_cmd start "$d/pm2.config.js" >"$d/start.log" 2>&1
  wait "$TAIL_PID"
  pm2_cmd delete lines >/dev/null 2>&1
  python3 "$LIB/benchtool.py" verify-lines --n "$LOG_LINES" "$d/out.log" >"$d/verify.json"
}
