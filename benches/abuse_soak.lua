-- wrk script of benches/abuse.py's soak: each thread stops after its share
-- of the requests (`wrk ... -- PER_THREAD DIR`) and counts the responses
-- that are not `200` with the hello body. wrk still waits out its -d, so a
-- thread that stops writes DIR/done.N; once every thread has, abuse.py
-- sends wrk SIGINT, and the totals go to stdout as `lua_responses=N
-- lua_wrong=N`.

local threads = {}

function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end

function init(args)
    limit = tonumber(args[1])
    marker = args[2] .. "/done." .. id
    responses = 0
    wrong = 0
end

function response(status, headers, body)
    responses = responses + 1
    if status ~= 200 or body ~= "Hello, World!" then
        wrong = wrong + 1
    end
    if responses == limit then
        wrk.thread:stop()
        local f = io.open(marker, "w")
        f:close()
    end
end

function done(summary, latency, requests)
    local n, w = 0, 0
    for _, t in ipairs(threads) do
        n = n + t:get("responses")
        w = w + t:get("wrong")
    end
    io.write(string.format("lua_responses=%d lua_wrong=%d\n", n, w))
end
