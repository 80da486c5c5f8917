-- One atomic throttle decision for one message of one customer.
-- KEYS: 1 flood zset, 2 fingerprint zset, 3 answered hash, 4 decided hash,
--       5 the claimed customer's flood zset, 6 its fingerprint zset (1 and 2 again when the
--       sender claims nobody). All share one hash tag, so this runs on Redis Cluster.
-- ARGV: 1 message id, 2 now (ms), 3 window (ms), 4 flood limit,
--       5 what is answered: the ticket id, or 'id:topic' ('' when none), 6 ticket state_version,
--       7 fingerprint high 32 bits, 8 low 32 bits ('' when the text is too short),
--       9 max Hamming distance for a near-duplicate, 10 answered ttl (ms), 11 max fingerprints
--       kept, 12 '1' when the sender claims another customer (KEYS 5 and 6 are that one's)
-- A claimant's message counts the claimed customer's window and fingerprints with its own
-- (a flood across channels stays caught) but is written only to its own keys: a claim can
-- never throttle or collapse the customer it names.
-- Returns {decision, messages in window, id of the message this one repeats or ''}.

local msg = ARGV[1]
local prior = redis.call('HGET', KEYS[4], msg)
if prior then
  return cjson.decode(prior)
end

local now = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local ticket = ARGV[5]
local version = tonumber(ARGV[6])
local cutoff = now - window
local claim = ARGV[12] == '1'

-- The window keeps its newest limit + 1 entries: enough to tell a flood. It is trimmed
-- only when over that, which most calls are not (one command fewer each).
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
redis.call('ZADD', KEYS[1], now, msg)
local count = redis.call('ZCARD', KEYS[1])
if count > limit + 1 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(limit + 2))
  count = redis.call('ZCARD', KEYS[1])
end
if claim then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', cutoff)
  count = count + redis.call('ZCARD', KEYS[5])
end

-- Bits that differ between two 32-bit halves, stopping once past `limit`.
-- Redis and Valkey ship the `bit` library: xor once, then clear the lowest set bit per
-- step, which costs a few steps instead of 32 rounds of arithmetic per fingerprint kept.
-- Plain arithmetic where the host lacks it (fakeredis's Lua); both count the same.
-- rawget, because a host that guards its globals refuses to read a missing one.
local bit = rawget(_G, 'bit')
local differing_bits
if bit then
  differing_bits = function(a, b, limit)
    local x, d = bit.bxor(a, b), 0
    while x ~= 0 do
      d = d + 1
      if d > limit then return d end
      x = bit.band(x, x - 1)
    end
    return d
  end
else
  differing_bits = function(a, b, limit)
    local d = 0
    for _ = 1, 32 do
      if a % 2 ~= b % 2 then
        d = d + 1
        if d > limit then return d end
      end
      a = (a - a % 2) / 2
      b = (b - b % 2) / 2
    end
    return d
  end
end

local repeat_of = ''
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cutoff)
if ARGV[7] ~= '' then
  local hi = tonumber(ARGV[7])
  local lo = tonumber(ARGV[8])
  local maxd = tonumber(ARGV[9])
  local kept = redis.call('ZRANGE', KEYS[2], 0, -1)
  local seen = kept
  if claim then
    redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', cutoff)
    seen = redis.call('ZRANGE', KEYS[6], 0, -1)
    for _, member in ipairs(kept) do seen[#seen + 1] = member end
  end
  for _, member in ipairs(seen) do
    local h, l, other = string.match(member, '^(%d+):(%d+):(.*)$')
    local d = differing_bits(hi, tonumber(h), maxd)
    if d <= maxd then
      d = d + differing_bits(lo, tonumber(l), maxd - d)
    end
    if d <= maxd and other ~= msg then
      repeat_of = other
      break
    end
  end
  local added = redis.call('ZADD', KEYS[2], now, ARGV[7] .. ':' .. ARGV[8] .. ':' .. msg)
  if #kept + added > tonumber(ARGV[11]) then  -- keep the newest, trimmed only when over
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[11]) + 1))
  end
end

local decision
if count > limit then
  decision = 'throttled'
elseif repeat_of ~= '' then
  decision = 'collapsed'
elseif ticket ~= '' and tonumber(redis.call('HGET', KEYS[3], ticket) or '0') >= version then
  decision = 'collapsed'
else
  decision = 'answered'
  if ticket ~= '' then
    redis.call('HSET', KEYS[3], ticket, version)
  end
end

local result = {decision, count, repeat_of}
redis.call('HSET', KEYS[4], msg, cjson.encode(result))
local ttl = math.floor(window * 2)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[4], ttl)
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[10]))
return result
