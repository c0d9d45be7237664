// The Lua scripts of the Redis coordinator: one per operation, so each is atomic on the server.

// Time comes from the Redis server (TIME), never from the caller, so every host measures TTLs, windows and refills
// on one clock. Since Redis 5, scripts replicate their effects, so a script may call TIME and then write.
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000`;

// Drops flags whose TTL has passed from the three flag structures (bounded work per call).
const PURGE_FLAGS = `local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 500)
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  redis.call('HDEL', KEYS[2], unpack(gone))
  redis.call('ZREM', KEYS[3], unpack(gone))
end`;

export const SCRIPTS = {
  // KEYS: lock, lockseq · ARGV: owner, ttlMs → token or nil. The lock key expires by itself (server clock); the
  // sequence key never does, so fencing tokens keep growing across grants.
  zrAcquire: {
    keys: 2,
    lua: `if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token`,
  },
  // KEYS: lock · ARGV: owner, token, ttlMs → 1 | 0
  zrRenew: {
    keys: 1,
    lua: `local v = redis.call('HMGET', KEYS[1], 'owner', 'token')
if v[1] ~= ARGV[1] or v[2] ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
  },
  // KEYS: lock · ARGV: owner, token → 1 | 0
  zrReleaseLock: {
    keys: 1,
    lua: `local v = redis.call('HMGET', KEYS[1], 'owner', 'token')
if v[1] ~= ARGV[1] or v[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1`,
  },
  // KEYS: slots (sorted set holder → expiresAt) · ARGV: holder, limit, ttlMs → 1 | 0
  zrAcquireSlot: {
    keys: 1,
    lua: `${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], math.ceil(now + tonumber(ARGV[3])), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1`,
  },
  // KEYS: slots → unexpired holders
  zrSlotCount: {
    keys: 1,
    lua: `${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])`,
  },
  // KEYS: counter (hash w = window index, c = count) · ARGV: by, windowMs → count in the current window
  zrIncrement: {
    keys: 1,
    lua: `${NOW_MS}
local size = tonumber(ARGV[2])
local w = math.floor(now / size)
local count
if tonumber(redis.call('HGET', KEYS[1], 'w')) == w then
  count = redis.call('HINCRBY', KEYS[1], 'c', ARGV[1])
else
  redis.call('HSET', KEYS[1], 'w', w, 'c', ARGV[1])
  count = tonumber(ARGV[1])
end
redis.call('PEXPIREAT', KEYS[1], (w + 1) * size)
return count`,
  },
  // KEYS: counter · ARGV: windowMs → count in the current window
  zrCount: {
    keys: 1,
    lua: `${NOW_MS}
local v = redis.call('HMGET', KEYS[1], 'w', 'c')
if tonumber(v[1]) == math.floor(now / tonumber(ARGV[1])) then return tonumber(v[2]) end
return 0`,
  },
  // KEYS: bucket (hash tokens, at) · ARGV: rate per second, burst, cost → { ok, waitMs }. A missing bucket is full;
  // the key expires once it would have refilled completely, so idle buckets cost nothing.
  zrTake: {
    keys: 1,
    lua: `${NOW_MS}
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = burst
if s[1] then tokens = math.min(burst, tonumber(s[1]) + math.max(0, now - tonumber(s[2])) * rate / 1000) end
local ok, left = 0, tokens
if tokens >= cost then ok, left = 1, tokens - cost end
redis.call('HSET', KEYS[1], 'tokens', left, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((burst - left) * 1000 / rate)))
if ok == 1 then return { 1, 0 } end
return { 0, math.ceil((cost - tokens) * 1000 / rate) }`,
  },
  // KEYS: flags:exp (sorted set key → expiresAt), flags:val (hash key → value), flags:keys (sorted set, all scores
  // 0, for prefix lookups by ZRANGEBYLEX) · ARGV: key, value, ttlMs
  zrSetFlag: {
    keys: 3,
    lua: `${NOW_MS}
${PURGE_FLAGS}
redis.call('ZADD', KEYS[1], math.ceil(now + tonumber(ARGV[3])), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
for i = 1, 3 do redis.call('PEXPIREAT', KEYS[i], last[2]) end
return 1`,
  },
  // KEYS: flags:exp, flags:val · ARGV: key → value or nil
  zrGetFlag: {
    keys: 2,
    lua: `${NOW_MS}
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not at or tonumber(at) <= now then return false end
return redis.call('HGET', KEYS[2], ARGV[1])`,
  },
  // KEYS: flags:exp, flags:val, flags:keys · ARGV: prefix → flat list key, value, expiresAt, …
  // "\\255" never occurs in UTF-8, so (prefix.."\\255" bounds every key that starts with prefix.
  zrListFlags: {
    keys: 3,
    lua: `${NOW_MS}
${PURGE_FLAGS}
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYLEX', KEYS[3], '[' .. ARGV[1], '(' .. ARGV[1] .. '\\255')) do
  local at = redis.call('ZSCORE', KEYS[1], key)
  local value = redis.call('HGET', KEYS[2], key)
  if at and value and tonumber(at) > now then
    out[#out + 1] = key
    out[#out + 1] = value
    out[#out + 1] = at
  end
end
return out`,
  },
  // KEYS: flags:exp, flags:val, flags:keys · ARGV: key
  zrClearFlag: {
    keys: 3,
    lua: `redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1`,
  },
} as const;
