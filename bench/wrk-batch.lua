-- wrk script: POST /v1/events/batch with 1,000 unique events per request (200 devices, 3 metrics,
-- 2 tags, ISO timestamps), each wrk thread numbering its events in its own range.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("base", next_id * 1000000000)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  n = tonumber(base)
  non200 = 0
end

local T0 = 1735689600 -- 2025-01-01T00:00:00Z

function request()
  local parts = {}
  for i = 1, 1000 do
    n = n + 1
    local ms = n * 10
    local ts = os.date("!%Y-%m-%dT%H:%M:%S", T0 + math.floor(ms / 1000)) .. string.format(".%03dZ", ms % 1000)
    parts[i] = string.format(
      '{"event_id":"w%d","device_id":"dev-%d","timeStamp":"%s","metrics":{"temp":%d,"cpu":%.2f,"mem":%d},"tags":["room:%d","fw:v%d"]}',
      n, n % 200, ts, 20 + n % 17, (n % 100) / 100, n % 4096, n % 50, n % 3)
  end
  return wrk.format("POST", "/v1/events/batch", { ["Content-Type"] = "application/json" }, "[" .. table.concat(parts, ",") .. "]")
end

function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + tonumber(t:get("non200")) end
  io.write(string.format('{"requests":%d,"seconds":%.3f,"non200":%d,"p50ms":%.1f,"p99ms":%.1f}\n',
    summary.requests, summary.duration / 1e6, bad, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
