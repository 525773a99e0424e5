-- wrk script of tests/bench/assign_bench.py: GET requests that differ by their subject.
--   ASSIGN_PATH=/v1/content/onboarding/welcome?channel=email&locale=en&subject= \
--   ASSIGN_TOKEN=... ASSIGN_MODE=cycle|new ASSIGN_PREFIX=sub- ASSIGN_SUBJECTS=10000 \
--   wrk -t1 -c32 -d5s -s tests/bench/assign.lua http://127.0.0.1:PORT
-- cycle: the subjects PREFIX0 .. PREFIX(N-1) in turn (every thread from its own offset); the
--        requests are built once in init(), so a request costs the client a table look-up.
-- new:   a subject never used before on every request: PREFIX<thread>-<counter>.
-- The request is ASSIGN_PATH followed by the subject (any path: the same script, pointed at
-- the h2o reference, gives the reference the same client-side cost). ASSIGN_TOKEN, when set,
-- goes into an Authorization header. No response() function: wrk does not hand bodies to
-- Lua, as in the plain content-read benchmark.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end

function init(args)
    local path = os.getenv("ASSIGN_PATH")
    local token = os.getenv("ASSIGN_TOKEN")
    mode = os.getenv("ASSIGN_MODE") or "cycle"
    prefix = os.getenv("ASSIGN_PREFIX") or "sub-"
    local n = tonumber(os.getenv("ASSIGN_SUBJECTS") or "1000")
    local headers = {}
    if token and token ~= "" then
        headers["Authorization"] = "Bearer " .. token
    end
    -- one formatted request split around a marker, so a request is two concatenations
    local marker = "@@SUBJECT@@"
    local whole = wrk.format("GET", path .. marker, headers)
    local at = string.find(whole, marker, 1, true)
    head, tail = string.sub(whole, 1, at - 1), string.sub(whole, at + #marker)
    counter = 0
    if mode == "cycle" then
        reqs = {}
        for i = 0, n - 1 do
            reqs[i + 1] = head .. prefix .. i .. tail
        end
        nreqs = n
        at_req = ((tid - 1) * 7919) % n -- threads start apart
    end
end

function request()
    if mode == "new" then
        counter = counter + 1
        return head .. prefix .. tid .. "-" .. counter .. tail
    end
    at_req = at_req % nreqs + 1
    return reqs[at_req]
end
