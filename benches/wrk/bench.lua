-- wrk script used by benches/run.sh. Configured by environment:
--   WRK_PATHS     space-separated request paths; each connection cycles through them
--                 (default: the URL's own path, sent as a static request)
--   WRK_RANDOM_ID "N": replace `{id}` in the URL's path with a random id in 1..N on every
--                 request (seeded per thread, so threads ask for different players; each
--                 thread cycles through 65,536 requests formatted at its start)
--   WRK_DELAY_MS  pause each connection this many ms before every request (paced load:
--                 C connections give about C * 1000 / (delay + latency) requests/s)
-- done() prints one line `WRK_JSON {...}` with the run's totals and latency percentiles.

local paths = {}
for path in string.gmatch(os.getenv("WRK_PATHS") or "", "%S+") do
  paths[#paths + 1] = path
end
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "")
local random_ids = tonumber(os.getenv("WRK_RANDOM_ID") or "")

-- Requests formatted once, at each thread's start, and sent in turn. `request` is defined only
-- when there are some: without it wrk sends its pre-built static request.
local requests, next_index = {}, 0
local function in_turn()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

if #paths > 0 then
  function init(args)
    for i, path in ipairs(paths) do
      requests[i] = wrk.format("GET", path)
    end
  end
  request = in_turn
end

if random_ids then
  local threads = 0
  function setup(thread)
    threads = threads + 1
    thread:set("seed", threads)
  end
  -- Formatted in init, not per request: formatting one per request costs wrk (on the same
  -- cores as the server) several microseconds that a static request does not, and would be
  -- measured against the server. Each thread cycles through its own 65,536 random ids.
  function init(args)
    math.randomseed(seed * 7919)
    local before, after = string.match(wrk.path, "^(.-){id}(.*)$")
    assert(before, "WRK_RANDOM_ID needs {id} in the path")
    for i = 1, 65536 do
      requests[i] = wrk.format("GET", before .. math.random(1, random_ids) .. after)
    end
  end
  request = in_turn
end

if delay_ms then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local ms = function(us) return us / 1000.0 end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_s":%.6f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,' ..
    '"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
    ms(latency.max), ms(latency.mean), e.connect, e.read, e.write, e.status, e.timeout))
end
