-- Registers a connection unless its user already holds `max` other live connections or, when the
-- user's revocation key is given, the connection's token is revoked; in one step, so the cap holds
-- whatever the interleaving of acquires on any instances.
-- KEYS: 1-2 the user's registry (lib/registry.lua), 3 (optional) the user's revocation key, given on a
-- single Redis only (on a Cluster it is in another slot and the caller reads it apart).
-- ARGV: 1 now (ms), 2 staleMs, 3 connectionId, 4 record JSON, 5 max (0 = no limit), 6 (with KEYS[3])
-- the token's issued-at (ms), '' when it has none.
-- Returns {held 1|0, first 1|0, revoked 1|0}: see lib/acquire.lua.
-- include: lib/acquire.lua
local held, first, revoked = acquire(KEYS[1], KEYS[2], KEYS[3] or false, ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6] or '')
return {held, first, revoked}
