-- The webhook outbox (see WebhookStore in src/engine/types.ts). Every key starts with KEYS[1], the
-- prefix `<prefix>{webhooks}:`, so all of them live in one Redis Cluster slot and one script may
-- touch any of them (the keys it names are derived from KEYS[1], in the same slot):
--   q:<endpoint>   list of `<queuedAt>|<event id>|<event JSON>`, oldest first
--   active         set of endpoints whose queue is not empty
--   held           hash subject -> `<endpoints, comma-separated>\n<event id>\n<event JSON>`
--   due            sorted set of held subjects scored by due time x 1000 + a sequence (ties in order)
--   dl             hash letter id -> letter JSON;  dl:all, dl:t:<tenant>  letter ids (lex = time order)
-- Event JSON is stored and returned as given: no script decodes or re-encodes it.
local P = KEYS[1]
local function enqueue(ep, id, json, now, max)
  local q = P .. 'q:' .. ep
  if max > 0 and redis.call('LLEN', q) >= max then return 1 end
  redis.call('RPUSH', q, now .. '|' .. id .. '|' .. json)
  redis.call('SADD', P .. 'active', ep)
  return 0
end
local function enqueue_all(eps, id, json, now, max)
  local dropped = 0
  for ep in string.gmatch(eps, '[^,]+') do dropped = dropped + enqueue(ep, id, json, now, max) end
  return dropped
end
local function forget_letter(id)
  local raw = redis.call('HGET', P .. 'dl', id)
  redis.call('HDEL', P .. 'dl', id)
  redis.call('ZREM', P .. 'dl:all', id)
  if raw then
    local ok, letter = pcall(cjson.decode, raw)
    if ok and type(letter) == 'table' and type(letter.tenantId) == 'string' then redis.call('ZREM', P .. 'dl:t:' .. letter.tenantId, id) end
  end
  return raw
end
