-- HTTP/1.1 pipelining for wrk: every write carries DEPTH copies of the
-- request wrk would send for its URL (method, path and headers), so the
-- server finds DEPTH requests in one read and may answer them in one write.
-- wrk counts each response, so requests/s stays per request; its latency
-- figures time whole batches and are not comparable with unpipelined ones.
--
-- usage: wrk -s benches/http/pipeline.lua URL -- [DEPTH=16]

local batch

function init(args)
    local depth = tonumber(args[1]) or 16
    local requests = {}
    for i = 1, depth do
        requests[i] = wrk.format()
    end
    batch = table.concat(requests)
end

function request()
    return batch
end
