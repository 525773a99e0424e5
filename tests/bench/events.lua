-- wrk script of tests/bench/events_bench.py: POST /v1/events with fixed bodies.
--   EVENTS_TOKEN=... EVENTS_DIR=/tmp/x EVENTS_BODIES=8 \
--   wrk -t1 -c8 -d10s -s tests/bench/events.lua http://127.0.0.1:PORT/v1/events
-- The bodies are the files EVENTS_DIR/body-1.json .. body-N.json (each a batch of events),
-- read and formatted once in init(); each connection's requests take them in turn. At the
-- end it prints one line, counting the answers of all threads:
--   events-lua: status200=N status422=N other=N first_other=STATUS accepted=N duration_us=N
-- accepted sums the "accepted" counts of the 200 answers (a 200 is a committed batch).

local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end

function init(args)
    local dir = os.getenv("EVENTS_DIR")
    local n = tonumber(os.getenv("EVENTS_BODIES") or "1")
    local headers = {["Authorization"] = "Bearer " .. os.getenv("EVENTS_TOKEN"),
                     ["Content-Type"] = "application/json"}
    reqs = {}
    for i = 1, n do
        local f = assert(io.open(string.format("%s/body-%d.json", dir, i), "rb"))
        reqs[i] = wrk.format("POST", nil, headers, f:read("*a"))
        f:close()
    end
    nreqs = n
    at_req = (tid - 1) % n
    status200, status422, other, first_other, accepted = 0, 0, 0, "", 0
end

function request()
    at_req = at_req % nreqs + 1
    return reqs[at_req]
end

function response(status, hdrs, body)
    if status == 200 then
        status200 = status200 + 1
        accepted = accepted + tonumber(string.match(body, '"accepted":(%d+)') or "0")
    elseif status == 422 then
        status422 = status422 + 1
    else
        other = other + 1
        if first_other == "" then
            first_other = tostring(status)
        end
    end
end

function done(summary, latency, requests)
    local ok, unproc, bad, acc, first = 0, 0, 0, 0, ""
    for _, t in ipairs(threads) do
        ok = ok + t:get("status200")
        unproc = unproc + t:get("status422")
        bad = bad + t:get("other")
        acc = acc + t:get("accepted")
        if first == "" then
            first = t:get("first_other")
        end
    end
    io.write(string.format(
        "events-lua: status200=%d status422=%d other=%d first_other=%s accepted=%d " ..
        "duration_us=%d\n", ok, unproc, bad, first == "" and "-" or first, acc, summary.duration))
end
