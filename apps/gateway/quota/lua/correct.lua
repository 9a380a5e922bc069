-- Applies summed token corrections to rings and micro-USD corrections to budget counters; shared by
-- settling and sweeping. A ring second that left the window stays out; a counter whose period ended
-- stays gone.
local function held_keys(ref)
  local raw = redis.call('GET', ref)
  if not raw then return {}, {} end
  local rate_part, budget_part = string.match(raw, '^([^|]*)|(.*)$')
  local rate_keys, budget_keys = {}, {}
  for key in string.gmatch(rate_part, '%S+') do rate_keys[#rate_keys + 1] = key end
  for key in string.gmatch(budget_part, '%S+') do budget_keys[#budget_keys + 1] = key end
  return rate_keys, budget_keys
end
local tokens, micros, plan_keys = {}, {}, {}
local function correct(record, dt, dm)
  local sec, held_t, held_m, ref = string.match(record, '^(%S+) (%S+) (%S+) (%S+)')  -- a charge's: + count
  dt, dm = dt - tonumber(held_t), dm - tonumber(held_m)
  if not plan_keys[ref] then plan_keys[ref] = {held_keys(ref)} end
  local rate_keys, budget_keys = plan_keys[ref][1], plan_keys[ref][2]
  if dt ~= 0 then
    for _, key in ipairs(rate_keys) do
      tokens[key] = tokens[key] or {}
      tokens[key][sec] = (tokens[key][sec] or 0) + dt
    end
  end
  if dm ~= 0 then
    for _, key in ipairs(budget_keys) do micros[key] = (micros[key] or 0) + dm end
  end
end
local function apply()
  for key, seconds in pairs(tokens) do
    local head = redis.call('GETRANGE', key, 0, HEAD - 1)
    if head ~= '' then
      local state = {key = key}
      head_read(state, head)
      local changed = false
      for sec, delta in pairs(seconds) do
        sec = tonumber(sec)
        if delta ~= 0 and sec <= state.newest and sec > state.newest - WINDOW then
          ring_add(state, sec, 0, delta)
          state.toks, changed = state.toks + delta, true
        end
      end
      if changed then head_write(state) end
    end
  end
  for key, delta in pairs(micros) do
    if delta ~= 0 and redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, delta) end
  end
end
