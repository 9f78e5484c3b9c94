-- wrk script: replays pre-encoded POST /v1/events/batch requests, so the load generator spends
-- almost no CPU of its own (the bodies are built beforehand by bench/wrk-ingest.mjs; building them
-- in Lua during the run took half a core from the two the server has).
-- Arguments: <file prefix> <content-type> [cycle]. Thread k reads "<prefix>.<k>": a sequence of
-- "<length>\n<body bytes>" records. Against the service, bodies are never sent twice (every event id
-- is unique): a thread that runs out sends an empty batch, which the check in wrk-ingest.mjs
-- notices. With "cycle" (the baseline, which stores nothing) the bodies go round again.
local threads = {}
local count = 0

function setup(thread)
  thread:set("idx", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  local prefix, ctype = args[1], args[2]
  cycle = args[3] == "cycle"
  local f = assert(io.open(prefix .. "." .. idx, "rb"))
  reqs = {}
  while true do
    local len = f:read("*l")
    if not len then break end
    reqs[#reqs + 1] = wrk.format("POST", "/v1/events/batch", { ["Content-Type"] = ctype }, f:read(tonumber(len)))
  end
  f:close()
  exhausted = wrk.format("POST", "/v1/events/batch", { ["Content-Type"] = "application/json" }, "[]")
  i = 0
  ran_out = 0
end

function request()
  i = i + 1
  if i > #reqs and cycle then i = 1 end
  if i > #reqs then
    ran_out = ran_out + 1
    return exhausted
  end
  return reqs[i]
end

-- No response() callback: with one, wrk hands every answer body to Lua, which cost it a third of
-- its CPU; answers of 400 and above are counted by wrk itself (summary.errors.status).

function done(summary, latency, requests)
  local bad, out = summary.errors.status, 0
  for _, t in ipairs(threads) do
    out = out + tonumber(t:get("ran_out"))
  end
  io.write(string.format('{"requests":%d,"seconds":%.3f,"non200":%d,"ranOut":%d,"p50ms":%.2f,"p99ms":%.2f}\n',
    summary.requests, summary.duration / 1e6, bad, out, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
