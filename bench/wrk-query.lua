-- wrk script: GET one path over and over, checking every answer is the expected body.
-- Arguments: <path> <file holding the expected body>.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[2], "rb"))
  expected = f:read("*a")
  f:close()
  req = wrk.format("GET", args[1])
  non200 = 0
  wrong = 0
end

function request()
  return req
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  elseif body ~= expected then
    wrong = wrong + 1
  end
end

function done(summary, latency, requests)
  local bad, wrongs = 0, 0
  for _, t in ipairs(threads) do
    bad = bad + tonumber(t:get("non200"))
    wrongs = wrongs + tonumber(t:get("wrong"))
  end
  io.write(string.format('{"requests":%d,"seconds":%.3f,"non200":%d,"wrong":%d,"errors":%d,"p50ms":%.3f,"p99ms":%.3f,"p999ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, bad, wrongs,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
