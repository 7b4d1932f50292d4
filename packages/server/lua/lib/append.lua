-- append(): the body of stream-append.lua (see there for KEYS and ARGV), as a function so that
-- stream-append-limited.lua can run it after taking its buckets.
local function append()
  local meta, log, dedupe = KEYS[1], KEYS[2], KEYS[3]
  if ARGV[7] == '1' then
    local prior = redis.call('GET', dedupe)
    if prior then return {1, prior} end
  end
  local nowMs, micros = now()
  local state = redis.call('HMGET', meta, 'epoch', 'seq', 'dropped')
  local epoch, seq = state[1], tonumber(state[2])
  local dropped = tonumber(state[3]) or 0
  local prev = ''
  if epoch then
    prev = string.format('%016d', seq) .. '-' .. epoch
  else
    -- A new history: a new epoch, its first sequence at Redis's time in microseconds.
    epoch = ARGV[1]
    seq = micros - 1
    dropped = 0
    redis.call('HSET', meta, 'epoch', epoch, 'dropped', '0', 'start', int(micros))
  end
  -- Never below the clock: a Redis that restarted from an older AOF/RDB state must not hand out ids it already gave.
  seq = math.max(seq + 1, micros)
  redis.call('HSET', meta, 'seq', int(seq))
  local id = string.format('%016d', seq) .. '-' .. epoch
  local message = '{"id":"' .. id .. '",' .. string.sub(ARGV[2], 2)
  local idle = ARGV[6]
  local max = tonumber(ARGV[5])
  if ARGV[3] == '1' and max > 0 then
    redis.call('ZADD', log, int(seq), int(nowMs + tonumber(ARGV[4])) .. '|' .. message)
    prune(meta, log, nowMs, max, dropped)
    redis.call('PEXPIRE', log, idle)
  end
  redis.call('PEXPIRE', meta, idle)
  if ARGV[7] == '1' then redis.call('SET', dedupe, message, 'PX', ARGV[8]) end
  if ARGV[9] ~= '' then redis.call(ARGV[9], ARGV[10], ARGV[11] .. message .. ',"p":"' .. prev .. '"}') end
  return {0, id}
end
