-- load.lua from benches/load/harness, paced: each connection waits a random pause between
-- requests, exponential with mean DELAY_MS, so arrivals are close to a Poisson stream and a run
-- holds a chosen fraction of the peak rate (wrk 4 has no rate option). A fixed pause would make
-- every connection fire in the same millisecond, measuring bursts rather than the rate.
dofile((os.getenv("BENCH_DIR") or "benches/load/harness") .. "/load.lua")
local mean = tonumber(os.getenv("DELAY_MS") or "0")
math.randomseed(os.time())
function delay()
  if mean <= 0 then
    return 0
  end
  -- wrk takes whole milliseconds; rounding keeps the mean
  return math.floor(-mean * math.log(1 - math.random()) + 0.5)
end
