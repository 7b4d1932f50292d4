-- registry-acquire.lua for several connections in one call (the acquires of one event-loop turn), on a
-- single Redis only (different users' keys are in different Cluster slots). Each connection is decided
-- in turn as if by its own call, in KEYS order: two connections of one user at its cap in one call
-- hold one place between them.
-- KEYS: per connection, 3 keys: the user's registry pair (lib/registry.lua) and its revocation key.
-- ARGV: 1 now, 2 staleMs (of the first connection), then per connection, in KEYS order, 5 values: now
-- (ms), connectionId, record JSON, max (0 = no limit), issued-at check: '-' none, '' a token without
-- issued-at, or the issued-at (ms).
-- Returns per connection, in KEYS order, 3 integers {held, first, revoked}: see lib/acquire.lua.
-- include: lib/acquire.lua
local out = {}
local a = 3
for k = 1, #KEYS, 3 do
  at(ARGV[a])
  local iat = ARGV[a + 4]
  local R = false
  if iat ~= '-' then R = KEYS[k + 2] end
  local held, first, revoked = acquire(KEYS[k], KEYS[k + 1], R, ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3]), iat)
  out[#out + 1] = held
  out[#out + 1] = first
  out[#out + 1] = revoked
  a = a + 5
end
return out
