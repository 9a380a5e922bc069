-- A deployment whose cooldown had ended answered (its probe succeeded): traffic returns to it.
-- A cooldown that another process has set since (its end still ahead) stays.
-- KEYS[1] the cooldowns hash, KEYS[2] the deployment's probe claim, KEYS[3] its failure counter
-- ARGV: field, now_ms
local ends = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if ends <= tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[3])
end
redis.call('DEL', KEYS[2])
return ends
