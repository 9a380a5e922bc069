-- ARGV: the reservations' key prefix, then per request its admission second, request_id, real tokens,
-- real micros. Moves each reservation still held to the request's real usage, once: a swept one was
-- already given back, a settled one is gone. The corrections of a batch are summed per key first.
-- Returns how many reservations it settled.
local by_second = {}
for n = 1, (#ARGV - 1) / 4 do
  local base = 2 + 4 * (n - 1)
  local second = ARGV[base]
  by_second[second] = by_second[second] or {}
  table.insert(by_second[second], {ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])})
end
local settled = 0
for second, items in pairs(by_second) do
  local held, ids = ARGV[1] .. second, {}
  for n, item in ipairs(items) do ids[n] = item[1] end
  local raw = redis.call('HMGET', held, unpack(ids))
  local found = {}
  for n, item in ipairs(items) do
    if raw[n] then  -- usage is never below zero, whatever a caller sends
      correct(raw[n], math.max(0, item[2]), math.max(0, item[3]))
      found[#found + 1] = item[1]
    end
  end
  if #found > 0 then redis.call('HDEL', held, unpack(found)) end
  settled = settled + #found
end
apply()
return settled
