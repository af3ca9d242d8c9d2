-- `make soak`: a mixed read/write load for wrk (see scripts/soak.py).
-- Ids come from the environment: SOAK_TOKEN, SOAK_FUND, SOAK_GRANT, SOAK_PROJECT.
--
-- Per 100 requests: 30 institution pages, 15 project status, 10 fund
-- summaries, 10 fund ledger pages, 10 disbursement pages, 5 dashboard
-- summaries, 10 disbursements (POST, all on one grant: they queue on the
-- fund's lock) and 10 new institutions (POST).

local token = os.getenv("SOAK_TOKEN")
local fund = os.getenv("SOAK_FUND")
local grant = os.getenv("SOAK_GRANT")
local project = os.getenv("SOAK_PROJECT")

local read = { ["Authorization"] = "Bearer " .. token }
local write = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
local disbursement = '{"amount": {"amount": "1.00", "currency": "CNY"}, "paid_on": "2025-06-01"}'
local institution = '{"name": {"en": "Soak institution"}, "kind": "ngo", "country": "FJ"}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("seed", #threads * 7919)
end

function init(args)
  math.randomseed(os.time() + seed)
  statuses = {}
  paid = 0
end

function request()
  local r = math.random(100)
  if r <= 30 then
    return wrk.format("GET", "/api/v1/institutions?limit=20", read)
  elseif r <= 45 then
    return wrk.format("GET", "/api/v1/projects/" .. project .. "/status", read)
  elseif r <= 55 then
    return wrk.format("GET", "/api/v1/funds/" .. fund .. "/summary", read)
  elseif r <= 65 then
    return wrk.format("GET", "/api/v1/funds/" .. fund .. "/ledger?limit=50", read)
  elseif r <= 75 then
    return wrk.format("GET", "/api/v1/grants/" .. grant .. "/disbursements?limit=50", read)
  elseif r <= 80 then
    return wrk.format("GET", "/api/v1/dashboard/summary", read)
  elseif r <= 90 then
    return wrk.format("POST", "/api/v1/grants/" .. grant .. "/disbursements", write, disbursement)
  else
    return wrk.format("POST", "/api/v1/institutions", write, institution)
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 and string.find(body, '"paid_on"', 1, true) then
    paid = paid + 1
  end
end

function done(summary, latency, requests)
  local totals, paid_total = {}, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + n
    end
    paid_total = paid_total + thread:get("paid")
  end
  io.write("SOAK statuses")
  for status, n in pairs(totals) do
    io.write(string.format(" %d=%d", status, n))
  end
  io.write("\n")
  io.write(string.format("SOAK paid %d\n", paid_total))
  io.write(string.format(
    "SOAK totals requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("SOAK latency p%g=%d\n", p, latency:percentile(p)))
  end
  io.write(string.format("SOAK latency max=%d mean=%d\n", latency.max, latency.mean))
end
