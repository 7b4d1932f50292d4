-- A user's live connections. Writes nothing. KEYS and ARGV 1-2: see lib/registry.lua.
-- Returns {connectionId, record JSON, ...}, oldest refresh first.
local live = redis.call('ZRANGEBYSCORE', KEYS[1], tonumber(ARGV[1]) - tonumber(ARGV[2]), '+inf')
local out = {}
for _, cid in ipairs(live) do
  local record = redis.call('HGET', KEYS[2], cid)
  if record then
    out[#out + 1] = cid
    out[#out + 1] = record
  end
end
return out
