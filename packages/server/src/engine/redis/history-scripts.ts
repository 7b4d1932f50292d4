import { LUA_INT } from './connection.js';
import { CONSUME_FN } from './rate-limiter.js';

/**
 * Lua shared by append and read: drops what is over `max` messages and, from
 * the oldest on, what has expired, recording the highest dropped sequence in
 * the room's meta. Members are `<expiresAtMs>|<message JSON>` so expiry needs
 * no second key; like the memory store, only a prefix of the log is dropped.
 */
const PRUNE = `
local function prune(meta, log, nowMs, max, dropped)
  local newDropped = dropped
  local n = redis.call('ZCARD', log)
  if n > max then
    local cut = redis.call('ZRANGE', log, n - max - 1, n - max - 1, 'WITHSCORES')
    newDropped = math.max(newDropped, tonumber(cut[2]))
    redis.call('ZREMRANGEBYRANK', log, 0, n - max - 1)
  end
  -- The oldest message alone first (the usual answer: not expired), then up to 100 at a time.
  local batch = 1
  while true do
    local head = redis.call('ZRANGE', log, 0, batch - 1, 'WITHSCORES')
    local expired = 0
    for i = 1, #head, 2 do
      local member = head[i]
      local bar = string.find(member, '|', 1, true)
      if tonumber(string.sub(member, 1, bar - 1)) > nowMs then break end
      expired = expired + 1
      newDropped = math.max(newDropped, tonumber(head[i + 1]))
    end
    if expired > 0 then redis.call('ZREMRANGEBYRANK', log, 0, expired - 1) end
    if expired < batch then break end
    batch = math.min(batch * 10, 100)
  end
  if newDropped ~= dropped then redis.call('HSET', meta, 'dropped', int(newDropped)) end
  return newDropped
end

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), tonumber(t[1]) * 1000000 + tonumber(t[2])
end
`;

/** The append script's body, after the functions it uses (see APPEND_LUA). */
const APPEND_BODY = `
local meta, log, dedupe = KEYS[1], KEYS[2], KEYS[3]
if ARGV[7] == '1' then
  local prior = redis.call('GET', dedupe)
  if prior then return {1, prior} end
end
local now, micros = nowMs()
local state = redis.call('HMGET', meta, 'epoch', 'seq', 'dropped')
local epoch, seq, dropped = state[1], tonumber(state[2]), tonumber(state[3]) or 0
if not epoch then
  epoch = ARGV[1]
  seq = micros - 1
  dropped = 0
  redis.call('HSET', meta, 'epoch', epoch, 'dropped', '0')
end
local prev = ''
if state[1] then prev = string.format('%016d', seq) .. '-' .. epoch end
-- Never below the clock: a Redis that restarted from an older AOF/RDB state must not hand out ids it already gave.
seq = math.max(seq + 1, micros)
redis.call('HSET', meta, 'seq', int(seq))
local id = string.format('%016d', seq) .. '-' .. epoch
local message = '{"id":"' .. id .. '",' .. string.sub(ARGV[2], 2)
local idle = ARGV[6]
local max = tonumber(ARGV[5])
if ARGV[3] == '1' and max > 0 then
  redis.call('ZADD', log, int(seq), int(now + tonumber(ARGV[4])) .. '|' .. message)
  prune(meta, log, now, max, dropped)
  redis.call('PEXPIRE', log, idle)
end
redis.call('PEXPIRE', meta, idle)
if ARGV[7] == '1' then redis.call('SET', dedupe, message, 'PX', ARGV[8]) end
if ARGV[9] ~= '' then redis.call(ARGV[9], ARGV[10], ARGV[11] .. message .. ',"p":"' .. prev .. '"}') end
return {0, id}
`;

/**
 * Append (and, for the broker, publish) in one step, so id assignment,
 * duplicate check, storage, trimming, expiry and delivery order are atomic.
 *
 * KEYS: 1 meta, 2 log, 3 dedupe key (the log key again when there is no clientMessageId)
 * ARGV: 1 epoch for a new history, 2 message JSON without id (starts with `{`),
 *       3 persistent 1|0, 4 ttlMs, 5 maxMessages, 6 idleMs (key expiry),
 *       7 has dedupe 1|0, 8 dedupeMs, 9 PUBLISH|SPUBLISH|'' , 10 channel,
 *       11 envelope head (the published text is head .. message .. ',"p":"<previous id>"}', the
 *          previous id being the room's id before this one, '' for a new history)
 * Returns {0, id} for a new message, {1, first message JSON} for a duplicate.
 *
 * Time is Redis's own (TIME), one clock for every instance. A sequence never
 * falls behind that time in microseconds (a new history starts there, and a
 * Redis restored from an older persisted state does not reuse ids), so after a FLUSHALL or a
 * restart without persistence ids still sort after the old ones, and its new
 * epoch tells readers that `since` values from before are not continuous.
 * The epoch comes from the caller because math.random in scripts is seeded
 * the same way on every call.
 */
export const APPEND_LUA = `${LUA_INT}${PRUNE}${APPEND_BODY}`;

/**
 * The same append, after taking rate-limit buckets in the same step (see
 * `CONSUME_FN`): only on a single Redis, where one script may touch the
 * room's keys and the tenant's buckets, which are in different Cluster slots.
 *
 * KEYS: 1-3 as APPEND_LUA, then the buckets. ARGV: 1-11 as APPEND_LUA, then
 * rate, burst, cost of each bucket in turn.
 * Returns {2, retryAfterMs, refusedBy} when a bucket is short (nothing is
 * appended, published or taken), otherwise as APPEND_LUA.
 */
export const APPEND_LIMITED_LUA = `${LUA_INT}${PRUNE}${CONSUME_FN}
local verdict = consume(4, 12)
if verdict[1] == 0 then return {2, verdict[2], verdict[3]} end
${APPEND_BODY}`;

/**
 * A page of history after `since`, pruning expired messages first.
 *
 * KEYS: 1 meta, 2 log
 * ARGV: 1 mode none|bad|id, 2 since epoch, 3 since seq, 4 limit, 5 maxMessages
 * Returns {recovered 1|0, hasMore 1|0, member...}.
 */
export const READ_LUA = `${LUA_INT}${PRUNE}
local meta, log = KEYS[1], KEYS[2]
local mode, limit = ARGV[1], tonumber(ARGV[4])
local state = redis.call('HMGET', meta, 'epoch', 'seq', 'dropped')
local epoch = state[1]
if not epoch then
  if mode == 'none' then return {1, 0} end
  return {0, 0}
end
local now = nowMs()
local dropped = prune(meta, log, now, tonumber(ARGV[5]), tonumber(state[3]) or 0)
local recovered = 0
local after = '-inf'
if mode == 'none' then
  recovered = 1
elseif mode == 'id' and ARGV[2] == epoch then
  local since = tonumber(ARGV[3])
  if since >= dropped and since <= tonumber(state[2]) then recovered = 1 end
  after = '(' .. ARGV[3]
end
local rows = redis.call('ZRANGEBYSCORE', log, after, '+inf', 'LIMIT', 0, limit + 1)
local out = {recovered, 0}
if #rows > limit then out[2] = 1 end
for i = 1, math.min(#rows, limit) do out[#out + 1] = rows[i] end
return out
`;

/**
 * The room's current position, starting a history (new epoch, sequence at
 * Redis time) when the room has none, so a client that joins an empty room
 * still has a position to recover from.
 *
 * KEYS: 1 meta. ARGV: 1 epoch for a new history, 2 idleMs (key expiry).
 * Returns {epoch, seq}.
 */
export const HEAD_LUA = `${LUA_INT}
local meta = KEYS[1]
local state = redis.call('HMGET', meta, 'epoch', 'seq')
if state[1] and state[2] then return {state[1], state[2]} end
local t = redis.call('TIME')
local seq = int(tonumber(t[1]) * 1000000 + tonumber(t[2]) - 1)
redis.call('HSET', meta, 'epoch', ARGV[1], 'seq', seq, 'dropped', '0')
redis.call('PEXPIRE', meta, ARGV[2])
return {ARGV[1], seq}
`;
