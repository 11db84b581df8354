-- post.lua - wrk script for bench/serve_load.sh: POSTs one prepared body
-- (BODY_FILE, with its Content-Type in BODY_TYPE) over and over, counts the
-- answers by status, and prints one JSON line of figures at the end (also
-- when wrk is stopped early with SIGINT).
local body_file = os.getenv("BODY_FILE")
local body_type = os.getenv("BODY_TYPE")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(body_file, "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = body_type
  counts = {}
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local by = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do by[status] = (by[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(by) do table.insert(parts, string.format('"%d":%d', status, n)) end
  local secs = summary.duration / 1e6
  io.write(string.format('{"requests":%d,"seconds":%.2f,"rps":%.1f,"p50_ms":%.1f,"p90_ms":%.1f,"p99_ms":%.1f,' ..
    '"max_ms":%.1f,"socket_errors":%d,"status":{%s}}\n',
    summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ",")))
end
