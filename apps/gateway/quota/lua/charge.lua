-- Charges of requests admitted ahead of Redis (see Headroom), summed per plan and second in the gateway
-- so that Redis does a layer's work once per call. A prepaid charge counts what was admitted (requests,
-- reserved tokens and cost) in its admission second; a correction later moves the tokens and cost to
-- the real usage. What is charged and not yet corrected is one reservation per process, plan and
-- second, "second tokens micros plan-record-key count" in the same hash as admit.lua's, so the
-- sweeper gives back what a process that died left; a correction that finds it gone (swept) is void.
-- KEYS: as admit.lua's. ARGV: now_ms, the reservations' key prefix, the process's id, the plans
--       (plans.lua), then charge count and per charge: plan number, second, requests, tokens, micros,
--       and the change of what is outstanding: tokens, micros, count (> 0: prepaid, < 0: a correction).
-- Returns per plan {prepaid charges that took a layer past its limit, then per layer the requests,
--         tokens and micro-USD it has used after the call (-1: not counted)}.
local function rate_state(key, create)
  local state = rates[key]
  if state then return state end
  state = ring_read(key, now_s)
  if state.fresh then
    if not create then return nil end  -- a correction of a ring that expired: nothing left to correct
    ring_create(key)
  end
  rates[key] = state
  return state
end
local function outstanding(held, field, sec, ref, raw, add_t, add_m, add_count)
  local t, m, count = 0, 0, 0
  if raw then
    local held_t, held_m, held_count = string.match(raw, '^%S+ (%S+) (%S+) %S+ (%S+)$')
    t, m, count = tonumber(held_t), tonumber(held_m), tonumber(held_count)
  end
  t, m, count = t + add_t, m + add_m, count + add_count
  if count <= 0 then
    redis.call('HDEL', held, field)
  else
    redis.call('HSET', held, field, sec .. ' ' .. t .. ' ' .. m .. ' ' .. ref .. ' ' .. count)
    redis.call('EXPIRE', held, HELD_TTL_S, 'NX')  -- as admit.lua's
  end
end
local function charge_layers(plan, layers, sec, reqs, tokens, micros, prepaid)  -- whether a layer went past its limit
  local over = false
  for i, limits in ipairs(layers) do
    local rpm, tpm, budget = limits[1], limits[2], limits[3]
    if rpm >= 0 or tpm >= 0 then
      local state = rate_state(KEYS[plan.first + 2 * i - 2], prepaid)
      if state and sec <= state.newest and sec > state.newest - WINDOW then
        ring_add(state, sec, reqs, tokens)
        state.reqs, state.toks, state.touched = state.reqs + reqs, state.toks + tokens, true
        over = over or (rpm >= 0 and state.reqs > rpm) or (tpm >= 0 and state.toks > tpm)
      end
    end
    if budget >= 0 then
      local state = budget_state(KEYS[plan.first + 2 * i - 1])
      if state then
        state.add = state.add + micros
        over = over or state.spent + state.add > budget
      end
    end
  end
  return over
end
local plans, at = plans_read(4)
for n = 1, tonumber(ARGV[at]) do
  local base = at + 1 + 8 * (n - 1)
  local plan, sec = plans[tonumber(ARGV[base])], tonumber(ARGV[base + 1])
  local reqs, tokens, micros = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local held_t, held_m, held_count = tonumber(ARGV[base + 5]), tonumber(ARGV[base + 6]), tonumber(ARGV[base + 7])
  local prepaid = held_count > 0
  local held, field = ARGV[2] .. sec, ARGV[3] .. '|' .. plan.ref
  local raw = redis.call('HGET', held, field)
  local layers = {}  -- a correction whose reservation is gone (swept, or never charged) changes nothing
  if prepaid or raw then
    outstanding(held, field, sec, plan.ref, raw, held_t, held_m, held_count)
    layers = plan.layers
  end
  if charge_layers(plan, layers, sec, reqs, tokens, micros, prepaid) and prepaid then plan.over = plan.over + 1 end
end
for _, state in pairs(rates) do
  if state.touched or state.moved then head_write(state) end
  if state.moved then redis.call('PEXPIRE', state.key, RING_TTL_MS) end
end
for key, state in pairs(budgets) do
  if state.add ~= 0 then redis.call('INCRBY', key, state.add) end
end
local results = {}
for p, plan in ipairs(plans) do
  local reply = {plan.over}
  for i, limits in ipairs(plan.layers) do
    local rate = (limits[1] >= 0 or limits[2] >= 0) and rates[KEYS[plan.first + 2 * i - 2]]
    local budget = limits[3] >= 0 and budgets[KEYS[plan.first + 2 * i - 1]]
    reply[#reply + 1] = rate and rate.reqs or -1
    reply[#reply + 1] = rate and rate.toks or -1
    reply[#reply + 1] = budget and (budget.spent + budget.add) or -1
  end
  results[p] = reply
end
return results
