-- Replays (ARGV 2 = 'replay': its events go back to the tail of its endpoint's queue) or discards
-- a dead letter (WebhookStore.replay / discard). KEYS[1]: see lib/webhooks.lua.
-- ARGV: 1 letter id, 2 'replay' or 'discard', 3 now. Returns the letter JSON, or false.
-- include: lib/webhooks.lua
local raw = forget_letter(ARGV[1])
if not raw or ARGV[2] ~= 'replay' then return raw end
local letter = cjson.decode(raw)
for _, e in ipairs(letter.events) do enqueue(letter.endpoint, e.id, e.json, tonumber(ARGV[3]), 0) end
return raw
