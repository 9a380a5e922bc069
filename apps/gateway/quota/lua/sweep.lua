-- ARGV: the reservations' key prefix, now_ms, the age in seconds past which a reservation belongs to a
-- process that died. Releases them (as a settlement to zero usage), at most SWEEP_SPAN_S seconds' worth a
-- call, remembering in <prefix><HELD_SWEPT> the last second done. Returns {released, 1 when done up to now, else 0}.
local now_s, age = math.floor(tonumber(ARGV[2]) / 1000), tonumber(ARGV[3])
local upto = now_s - age
local last = tonumber(redis.call('GET', ARGV[1] .. HELD_SWEPT))
-- the first sweep, or a clock that went back
if not last or last > upto + SWEEP_CLOCK_BACK_S then last = upto - SWEEP_FIRST_S end
local stop = math.min(upto, last + SWEEP_SPAN_S)
local released = 0
for second = last + 1, stop do
  local held = ARGV[1] .. second
  local raw = redis.call('HGETALL', held)
  for n = 2, #raw, 2 do correct(raw[n], 0, 0) end
  if #raw > 0 then redis.call('DEL', held) end
  released = released + #raw / 2
end
if stop > last then redis.call('SET', ARGV[1] .. HELD_SWEPT, stop) end
apply()
return {released, stop >= upto and 1 or 0}
