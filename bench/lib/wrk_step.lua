-- wrk script for a step load (benchtool.py step): every connection waits
-- WRK_THINK_MS between a response and its next request, as a client with
-- think time does, so the load is set by the number of connections. Prints
-- wrk_json.lua's JSON line at the end.
dofile(os.getenv("BENCH_LIB") .. "/wrk_json.lua")
local think = tonumber(os.getenv("WRK_THINK_MS") or "0")
delay = function() return think end
