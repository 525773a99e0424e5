-- wrk script of tests/bench/send_bench.py: POST /v1/journeys/{id}/steps/{step}/send, every
-- request to a recipient of its own with an idempotency key of its own.
--   wrk -t1 -c16 -d10s -s tests/bench/send.lua http://127.0.0.1:PORT -- TOKEN RUN PATH CHANNEL
-- RUN makes the ids of one run distinct from any other run's; CHANNEL is "sms" (the recipient
-- gets a phone) or "email" (an address). At the end it prints one line:
--   send-lua: status202=N other=N first_other=STATUS duration_us=N
-- counting the answers of all threads (a 202 is a send whose jobs are committed).

local threads = {}
local counter = 0

function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end

function init(args)
    token, run, path, channel = args[1], args[2], args[3], args[4] or "sms"
    headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
    status202, other, first_other = 0, 0, ""
end

function request()
    counter = counter + 1
    local id = string.format("%s-%d-%d", run, tid, counter)
    local address
    if channel == "email" then
        address = string.format('"email":"b%s@bench.example"', id)
    else
        address = string.format('"phone":"+49%02d%09d"', tid, counter)
    end
    local body = string.format(
        '{"recipient":{"id":"b-%s",%s,"attributes":{"resume_url":"https://nw.example/r/%s"}},' ..
        '"channels":["%s"],"idempotency_key":"k-%s"}', id, address, id, channel, id)
    return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
    if status == 202 then
        status202 = status202 + 1
    else
        other = other + 1
        if first_other == "" then
            first_other = tostring(status)
        end
    end
end

function done(summary, latency, requests)
    local ok, bad, first = 0, 0, ""
    for _, t in ipairs(threads) do
        ok = ok + t:get("status202")
        bad = bad + t:get("other")
        if first == "" then
            first = t:get("first_other")
        end
    end
    io.write(string.format("send-lua: status202=%d other=%d first_other=%s duration_us=%d\n",
                           ok, bad, first == "" and "-" or first, summary.duration))
end
