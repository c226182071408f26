-- One request shape for a whole wrk run, from environment variables set by bench/run.py:
-- BENCH_METHOD, BENCH_BODY, BENCH_CONTENT_TYPE, BENCH_TOKEN. done() prints one JSON line.
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then wrk.body = body end
local ctype = os.getenv("BENCH_CONTENT_TYPE")
if ctype and ctype ~= "" then wrk.headers["Content-Type"] = ctype end
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end

-- A body with "{n}" gets a count in its place, so that each request is new (a sign-up's email).
if body and body:find("{n}", 1, true) then
  local count = 0
  function request()
    count = count + 1
    return wrk.format(nil, nil, nil, (body:gsub("{n}", tostring(count))))
  end
end
