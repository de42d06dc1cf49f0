-- load.lua from benches/load/harness, but each request of the corpus is sent exactly once, then the
-- run stops (for memory figures after a known number of messages and distinct users).
dofile((os.getenv("BENCH_DIR") or "benches/load/harness") .. "/load.lua")
function request()
  if idx >= #reqs then
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  idx = idx + 1
  return reqs[idx]
end
