-- A layer's sliding window is one string (a "ring"; its layout and its reader: apps/quotas/windows.py, whose
-- constants the prelude gives: HEAD, WIDTH, SLOT, WINDOW, DIGITS, RING_TTL_MS). An admission in the newest
-- second reads and writes the header only; once a second, when the ring advances, the newest second moves
-- into its slot and the seconds that left the window are subtracted, so the totals are never a scan.
local function num(raw, at) return tonumber(string.sub(raw, at + 1, at + WIDTH)) end
local function digits(value) return string.format(DIGITS, value) end
local function slot(sec) return HEAD + (sec % WINDOW) * SLOT end
local function zero_slots(key, from_sec, count)  -- the slots of `count` seconds from `from_sec`: two ranges at most
  local first = from_sec % WINDOW
  local head_count = math.min(count, WINDOW - first)
  redis.call('SETRANGE', key, HEAD + first * SLOT, string.rep('0', head_count * SLOT))
  if count > head_count then redis.call('SETRANGE', key, HEAD, string.rep('0', (count - head_count) * SLOT)) end
end
local function head_read(state, head)
  state.newest, state.reqs, state.toks = num(head, 0), num(head, WIDTH), num(head, 2 * WIDTH)
  state.first, state.cur_reqs, state.cur_toks = num(head, 3 * WIDTH), num(head, 4 * WIDTH), num(head, 5 * WIDTH)
end
local function head_write(state)
  redis.call('SETRANGE', state.key, 0, digits(state.newest) .. digits(state.reqs) .. digits(state.toks)
    .. digits(state.first) .. digits(state.cur_reqs) .. digits(state.cur_toks))
end
local function ring_read(key, now_s)
  local head = redis.call('GETRANGE', key, 0, HEAD - 1)
  local state = {key = key}
  if head ~= '' then head_read(state, head) end
  if head == '' or now_s - state.newest >= WINDOW then
    state.newest, state.reqs, state.toks, state.first, state.fresh = now_s, 0, 0, now_s, true
    state.cur_reqs, state.cur_toks = 0, 0
  elseif now_s > state.newest then
    -- the newest second takes its slot; the seconds newest-(WINDOW-1) .. now_s-WINDOW leave the window
    local ring = redis.call('GET', key)
    for sec = state.newest - WINDOW + 1, now_s - WINDOW do
      local at = slot(sec)
      state.reqs, state.toks = state.reqs - num(ring, at), state.toks - num(ring, at + WIDTH)
    end
    zero_slots(key, state.newest - WINDOW + 1, now_s - state.newest)
    redis.call('SETRANGE', key, slot(state.newest), digits(state.cur_reqs) .. digits(state.cur_toks))
    state.newest, state.cur_reqs, state.cur_toks, state.moved = now_s, 0, 0, true
  end
  -- a process whose clock lags counts in its own second while that is still in the window
  state.sec = (now_s > state.newest - WINDOW) and now_s or state.newest
  return state
end
local function ring_add(state, sec, add_reqs, add_toks)  -- R and T are the caller's to move
  if sec == state.newest then
    state.cur_reqs, state.cur_toks = state.cur_reqs + add_reqs, state.cur_toks + add_toks
  else
    local at = slot(sec)
    local current = redis.call('GETRANGE', state.key, at, at + SLOT - 1)
    redis.call('SETRANGE', state.key, at, digits(num(current, 0) + add_reqs) .. digits(num(current, WIDTH) + add_toks))
  end
end
local function ring_create(key)
  redis.call('SET', key, string.rep('0', HEAD + WINDOW * SLOT), 'PX', RING_TTL_MS)
end
local function ring_write(state, add_reqs, add_toks)
  if state.fresh then
    ring_create(state.key)
  elseif state.moved then
    redis.call('PEXPIRE', state.key, RING_TTL_MS)  -- past its newest second
  end
  ring_add(state, state.sec, add_reqs, add_toks)
  head_write(state)
end
