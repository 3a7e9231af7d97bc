-- Marks the end of a fixed number of requests in a wrk run: at the
-- REQUESTS-th response it writes the time (date +%s%N, nanoseconds) to
-- the file END_FILE and stops the thread. wrk itself always sleeps out
-- its whole -d before it reports (and a SIGINT sent from here would find
-- it ignoring SIGINT inside os.execute's system()), so benches/files.sh
-- starts wrk with a long -d, times the run from its own start to this
-- mark, and then interrupts wrk for its report. Run it with one wrk
-- thread.
local limit = tonumber(os.getenv("REQUESTS") or "20000")
local end_file = os.getenv("END_FILE") or "/dev/null"
local done = 0

function response(status, headers, body)
    done = done + 1
    if done == limit then
        os.execute("date +%s%N > " .. end_file)
        wrk.thread:stop()
    end
end
