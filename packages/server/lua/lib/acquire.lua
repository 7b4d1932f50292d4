-- acquire(Z, H, R, cid, record, max, iat): registers one connection in its user's registry (Z, H: see
-- lib/registry.lua) unless the user already holds `max` other live connections (0 = no limit), or the
-- token is revoked. R is the user's revocation key (lua/revoke.lua: the time before which the user's
-- tokens are refused, expiring with the revocation), or false for no revocation check; iat is the
-- token's issued-at (ms) as a string, '' for a token without one (then any revocation refuses it).
-- The cap is decided first: a revoked token of a user at the cap is refused for the cap, as the memory
-- registry does. Returns held (1|0), first (1|0: held and the user has no other live connection),
-- revoked (1|0: refused for the revocation, nothing written).
-- include: lib/registry.lua
local function acquire(Z, H, R, cid, record, max, iat)
  -- A user's first connection (the usual case in a reconnect storm) finds no key: nothing to prune or look up.
  local others = redis.call('ZCARD', Z)
  if others > 0 then others = others - prune(Z, H) end
  if others > 0 and redis.call('ZSCORE', Z, cid) then others = others - 1 end
  if max > 0 and others >= max then return 0, 0, 0 end
  if R then
    local before = redis.call('GET', R)
    if before and (iat == '' or tonumber(iat) < tonumber(before)) then return 0, 0, 1 end
  end
  put(Z, H, cid, record)
  keep(Z, H)
  if others == 0 then return 1, 1, 0 end
  return 1, 0, 0
end
