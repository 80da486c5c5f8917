-- Forget what the throttle holds about a ticket id this transaction has just created: it
-- can only be left by an attempt that rolled back (SQLite hands such ids out again).
-- KEYS: 1 answered hash, 2 decided hash.  ARGV: 1 ticket id, 2.. the ids of the messages
-- about it now (their cached verdicts were taken about the ticket that never was).
local ticket = ARGV[1]
local prefix = ticket .. ':'
redis.call('HDEL', KEYS[1], ticket)
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, #prefix) == prefix then
    redis.call('HDEL', KEYS[1], field)
  end
end
for i = 2, #ARGV do
  redis.call('HDEL', KEYS[2], ARGV[i])
end
return 0
