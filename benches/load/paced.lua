-- load.lua from benches/load/harness, paced: each connection waits DELAY_MS between requests, so a
-- run can hold a chosen fraction of the peak rate (wrk 4 has no rate option).
dofile((os.getenv("BENCH_DIR") or "benches/load/harness") .. "/load.lua")
local pause = tonumber(os.getenv("DELAY_MS") or "0")
function delay()
  return pause
end
