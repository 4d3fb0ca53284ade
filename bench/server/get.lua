-- wrk script: GET hits spread over N keys, and a JSON summary at the end.
--   wrk -t2 -c50 -d10s -s bench/server/get.lua http://127.0.0.1:PORT -- KEYS [PATH_PREFIX]
-- Keys are PATH_PREFIX .. i for i in 0..KEYS-1 (default prefix /v1/bench/k).

local keys = 1000
local prefix = "/v1/bench/k"
local counter = 0

function init(args)
  keys = tonumber(args[1] or "1000")
  prefix = args[2] or prefix
  -- Threads start at different offsets so they do not walk the keys in step.
  counter = math.random(0, keys - 1)
end

function request()
  counter = (counter + 1) % keys
  return wrk.format("GET", prefix .. counter)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_us":%d,"p99_us":%d,"non_2xx":%d,"socket_errors":%d}\n',
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
end
