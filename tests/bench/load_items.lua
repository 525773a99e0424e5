-- wrk script: each thread (one connection each) PUTs then publishes its share of
-- BENCH_ITEMS items with unique keys, then stops. Used by bench.py.
local token = os.getenv("BENCH_TOKEN")
local total = tonumber(os.getenv("BENCH_ITEMS"))
local f = assert(io.open(os.getenv("BENCH_ITEM_FILE")))
local body = f:read("*a")
f:close()
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  nthreads = tonumber(os.getenv("BENCH_CONNS") or "16")
  share = math.floor(total / nthreads) + ((id <= total % nthreads) and 1 or 0)
  n = 0
  publish_next = false
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  if publish_next then
    publish_next = false
    return wrk.format("POST", "/v1/items/bench/t" .. id .. "/i" .. n .. "/publish", nil, "{}")
  end
  n = n + 1
  publish_next = true
  return wrk.format("PUT", "/v1/items/bench/t" .. id .. "/i" .. n, nil, body)
end

function response(status, headers, body)
  if n >= share and not publish_next then
    wrk.thread:stop()
  end
end
