-- wrk script: after the run, print one JSON line with what the benchmarks
-- record (wrk's own text summary comes before it). Errors are wrk's socket
-- errors by kind, plus `status` = responses that were not 2xx/3xx.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_s":%.3f,"rps":%.1f,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_timeout":%d,"err_status":%d,"lat_p50_ms":%.3f,"lat_p99_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
