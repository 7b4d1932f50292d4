-- append(nowMs, micros): the body of stream-append.lua (see there for KEYS and ARGV), as a function so
-- that stream-append-limited.lua can run it after taking its buckets, with the clock it read.
--
-- Fewer calls per message: the meta hash is read once (HMGET) and written once (HSET), and the keys'
-- expiries are set only when the last setting is older than an eighth of the idle time (the times are
-- kept in the meta hash: `mk` for the meta hash, `lk` for the log), to idle time + an eighth: every key
-- still outlives its last append by at least the idle time, and the meta hash outlives the log (it is
-- set whenever the log's is), so a history is never restarted under a log that is still there.
local function append(nowMs, micros)
  if not nowMs then nowMs, micros = now() end
  local meta, log, dedupe = KEYS[1], KEYS[2], KEYS[3]
  if ARGV[7] == '1' then
    local prior = redis.call('GET', dedupe)
    if prior then return {1, prior} end
  end
  local state = redis.call('HMGET', meta, 'epoch', 'seq', 'dropped', 'mk', 'lk')
  local epoch, seq = state[1], tonumber(state[2])
  local dropped = tonumber(state[3]) or 0
  local metaKept, logKept = tonumber(state[4]), tonumber(state[5])
  local fields = {}
  local prev = ''
  if epoch then
    prev = string.format('%016d', seq) .. '-' .. epoch
  else
    -- A new history: a new epoch, its first sequence at Redis's time in microseconds.
    epoch = ARGV[1]
    seq = micros - 1
    dropped = 0
    metaKept, logKept = nil, nil
    fields = {'epoch', epoch, 'dropped', '0', 'start', int(micros)}
  end
  -- Never below the clock: a Redis that restarted from an older AOF/RDB state must not hand out ids it already gave.
  seq = math.max(seq + 1, micros)
  fields[#fields + 1] = 'seq'
  fields[#fields + 1] = int(seq)
  local id = string.format('%016d', seq) .. '-' .. epoch
  -- Every string a script makes costs Redis in proportion to its length (~13 ns a byte here: Lua hashes
  -- and interns it), and the message is most of it: the message alone is made only when the duplicate
  -- window keeps it, the stored member and the published text are each made in one concatenation.
  local opening = '{"id":"' .. id .. '",'
  local message = ARGV[7] == '1' and opening .. ARGV[2] or nil
  local idle = tonumber(ARGV[6])
  local every = idle / 8
  local ttl = int(idle + every)
  local max = tonumber(ARGV[5])
  local keepMeta = not metaKept or nowMs - metaKept >= every
  if ARGV[3] == '1' and max > 0 then
    redis.call('ZADD', log, int(seq), message and int(nowMs + tonumber(ARGV[4])) .. '|' .. message or int(nowMs + tonumber(ARGV[4])) .. '|' .. opening .. ARGV[2])
    local newDropped, n = prune(meta, log, nowMs, max, dropped, true)
    if newDropped ~= dropped then
      fields[#fields + 1] = 'dropped'
      fields[#fields + 1] = int(newDropped)
    end
    -- n == 1: the log was just created by this ZADD (and has no expiry yet).
    if not logKept or n == 1 or nowMs - logKept >= every then
      redis.call('PEXPIRE', log, ttl)
      fields[#fields + 1] = 'lk'
      fields[#fields + 1] = int(nowMs)
      keepMeta = true
    end
  end
  if keepMeta then
    fields[#fields + 1] = 'mk'
    fields[#fields + 1] = int(nowMs)
  end
  redis.call('HSET', meta, unpack(fields))
  if keepMeta then redis.call('PEXPIRE', meta, ttl) end
  if ARGV[7] == '1' then redis.call('SET', dedupe, message, 'PX', ARGV[8]) end
  if ARGV[9] ~= '' then
    if message then redis.call(ARGV[9], ARGV[10], ARGV[11] .. message .. ',"p":"' .. prev .. '"}')
    else redis.call(ARGV[9], ARGV[10], ARGV[11] .. opening .. ARGV[2] .. ',"p":"' .. prev .. '"}') end
  end
  return {0, id}
end
