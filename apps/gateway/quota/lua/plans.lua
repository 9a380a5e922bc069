-- What the admission and charge scripts share: the time (ARGV[1], ms); the plans in ARGV from index
-- `count_at` (plan count, then per plan its first key's index, the key of its record, the record to
-- write ("" when written recently), its layer count and per layer rpm, tpm, budget (-1: none)); and
-- budget counters, read once per call.
local now_ms = tonumber(ARGV[1])
local now_s = math.floor(now_ms / 1000)
local rates = {}  -- ring states by key, read once per call
local function plans_read(count_at)
  local plans, at = {}, count_at + 1
  for p = 1, tonumber(ARGV[count_at]) do
    local plan = {first = tonumber(ARGV[at]), ref = ARGV[at + 1], layers = {}, over = 0}
    if ARGV[at + 2] ~= '' then redis.call('SET', plan.ref, ARGV[at + 2], 'EX', PLAN_RECORD_TTL_S) end
    for i = 1, tonumber(ARGV[at + 3]) do
      local base = at + 4 + 3 * (i - 1)
      plan.layers[i] = {tonumber(ARGV[base]), tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])}
    end
    plans[p] = plan
    at = at + 4 + 3 * #plan.layers
  end
  return plans, at
end
local budgets = {}
local function budget_state(key)  -- nil: not loaded, or its period ended (the ledger counts it)
  local state = budgets[key]
  if state then return state end
  local spent = redis.call('GET', key)
  if not spent then return nil end
  state = {spent = tonumber(spent), add = 0}
  budgets[key] = state
  return state
end
