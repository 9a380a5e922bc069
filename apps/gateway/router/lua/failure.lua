-- A deployment failed: count it in its window; at the threshold (or when forced: a 429, a failed probe)
-- it cools down until now + cooldown. Returns the cooldown's end (epoch ms), or 0.
-- KEYS[1] the deployment's failure counter, KEYS[2] the cooldowns hash
-- ARGV: field, window_ms, threshold, cooldown_ms, force (0/1), now_ms
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if failures < tonumber(ARGV[3]) and ARGV[5] ~= '1' then
  return 0
end
local ends = tonumber(ARGV[6]) + tonumber(ARGV[4])
local current = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if ends > current then
  redis.call('HSET', KEYS[2], ARGV[1], ends)
else
  ends = current
end
redis.call('DEL', KEYS[1])
return ends
