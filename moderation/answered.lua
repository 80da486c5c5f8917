-- Record that a customer was answered for a ticket's state_version (staff status changes).
-- KEYS: 1 answered hash.  ARGV: 1 ticket id, 2 state_version, 3 ttl (ms).
-- Never moves backwards, so a late retry cannot reopen an answered state.
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local version = tonumber(ARGV[2])
if version > current then
  redis.call('HSET', KEYS[1], ARGV[1], version)
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return math.max(version, current)
