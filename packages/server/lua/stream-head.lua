-- A room's position: its newest id (stored or not), or, for a room without history, Redis's time in
-- microseconds minus one, a mark just before the first message of any history begun from now on.
-- Writes nothing: asking for a room's position creates no state.
--
-- KEYS: 1 meta hash. ARGV: none.
-- Returns {epoch, seq} for a room with history, {'', mark} for one without.
local state = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
if state[1] and state[2] then return {state[1], state[2]} end
local t = redis.call('TIME')
return {'', string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]) - 1)}
