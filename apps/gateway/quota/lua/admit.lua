-- One call admits a batch of requests (those of one event-loop turn), reading and writing each
-- layer key once however many of the batch's requests share it: Redis time is per key, not per request.
-- KEYS: per plan its layers' (rate ring, budget counter) pairs.
-- ARGV: now_ms, the reservations' key prefix, the plans (plans.lua; a plan's record: QuotaPlan.record_key),
--       then request count and per request:
--       plan number, request_id, requests (1, or 0 for a stream's extension), tokens, micros.
-- Reservations of second s are the hash <prefix><s>: request id -> "ring-second tokens micros
-- plan-record-key"; the plan record ("rate keys|budget keys") lives PLAN_RECORD_TTL_S past its last write.
-- Returns per request {ADMITTED, req_limit, req_remaining, req_reset_ms, tok_limit, tok_remaining, tok_reset_ms,
--         second, then per layer the requests, tokens and micro-USD it has used with this request (-1: not counted)}
--      or {REFUSED, layer_index, dimension, limit, reset_ms} or {UNLOADED, layer_index} (budget counter needs loading).
local function rate_state(key)
  local state = rates[key]
  if not state then
    state = ring_read(key, now_s)
    state.add_reqs, state.add_toks = 0, 0
    rates[key] = state
  end
  return state
end
local function reset_ms(state)
  return (math.max(state.first, now_s - WINDOW + 1) + WINDOW) * 1000 - now_ms
end
local function refusal(plan, reqs, tokens, micros)  -- why the request may not pass, or nil
  for i, limits in ipairs(plan.layers) do
    local rpm, tpm, budget = limits[1], limits[2], limits[3]
    if rpm >= 0 or tpm >= 0 then
      local state = rate_state(KEYS[plan.first + 2 * i - 2])
      if rpm >= 0 and reqs > 0 and state.reqs + reqs > rpm then return {REFUSED, i, RPM, rpm, reset_ms(state)} end
      if tpm >= 0 and state.toks + tokens > tpm then return {REFUSED, i, TPM, tpm, reset_ms(state)} end
    end
    if budget >= 0 then
      local state = budget_state(KEYS[plan.first + 2 * i - 1])
      if not state then return {UNLOADED, i} end
      if state.spent + state.add + micros > budget then return {REFUSED, i, BUDGET, budget, 0} end
    end
  end
  return nil
end
local records = {}
local function admit(plan, request_id, reqs, tokens, micros)
  local best, second, holds = {-1, -1, WINDOW * 1000, -1, -1, WINDOW * 1000}, now_s, false
  local used = {}
  for i, limits in ipairs(plan.layers) do
    local rpm, tpm, budget = limits[1], limits[2], limits[3]
    if rpm >= 0 or tpm >= 0 then
      local state = rates[KEYS[plan.first + 2 * i - 2]]
      if rpm >= 0 and (best[1] < 0 or rpm - state.reqs - reqs < best[2]) then
        best[1], best[2], best[3] = rpm, rpm - state.reqs - reqs, reset_ms(state)
      end
      if tpm >= 0 and (best[4] < 0 or tpm - state.toks - tokens < best[5]) then
        best[4], best[5], best[6] = tpm, tpm - state.toks - tokens, reset_ms(state)
      end
      state.reqs, state.toks = state.reqs + reqs, state.toks + tokens
      state.add_reqs, state.add_toks = state.add_reqs + reqs, state.add_toks + tokens
      second, holds = state.sec, true
      used[#used + 1], used[#used + 2] = state.reqs, state.toks
    else
      used[#used + 1], used[#used + 2] = -1, -1
    end
    if budget >= 0 then
      local state = budgets[KEYS[plan.first + 2 * i - 1]]
      state.add, holds = state.add + micros, true
      used[#used + 1] = state.spent + state.add
    else
      used[#used + 1] = -1
    end
  end
  if holds then
    records[#records + 1] = request_id
    records[#records + 1] = second .. ' ' .. tokens .. ' ' .. micros .. ' ' .. plan.ref
  end
  local reply = {ADMITTED, best[1], best[2], best[3], best[4], best[5], best[6], now_s}
  for j = 1, #used do reply[8 + j] = used[j] end
  return reply
end
local plans, at = plans_read(3)
local results = {}
for n = 1, tonumber(ARGV[at]) do
  local base = at + 1 + 5 * (n - 1)
  local plan, request_id = plans[tonumber(ARGV[base])], ARGV[base + 1]
  local reqs, tokens, micros = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  results[n] = refusal(plan, reqs, tokens, micros) or admit(plan, request_id, reqs, tokens, micros)
end
for _, state in pairs(rates) do
  if state.add_reqs > 0 or state.add_toks ~= 0 then
    ring_write(state, state.add_reqs, state.add_toks)
  elseif state.moved then
    head_write(state)
    redis.call('PEXPIRE', state.key, RING_TTL_MS)
  end
end
for key, state in pairs(budgets) do
  if state.add ~= 0 then redis.call('INCRBY', key, state.add) end
end
if #records > 0 then
  local held = ARGV[2] .. now_s
  redis.call('HSET', held, unpack(records))
  redis.call('EXPIRE', held, HELD_TTL_S, 'NX')  -- the sweeper's work, should every process be down that long
end
return results
