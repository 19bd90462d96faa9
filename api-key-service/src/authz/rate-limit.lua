-- The rate-limit decision, one atomic call per check (see redis-limiter.ts for the windows' layout).
--
-- KEYS[1], KEYS[2]: the key's minute and day windows. KEYS[3], when present: the user's quota counter
-- for one billing period (an integer: 1 + the units used). All three carry the user's hash tag, so
-- they share a Redis Cluster slot.
-- ARGV: now (ms), per-minute limit, per-day limit, cost (units), consume ("1" counts, "0" only
-- decides), the current minute and day buckets (floor(now / bucket ms), as the field names they are),
-- and with a quota: the quota (units) and block ("1": refuse past it, "0": admit and count, the
-- overage is billed). The counter gets its time to live when it is (re)built, not here.
-- The bucket names and the cost go to Redis as the strings they came as: a Lua number passed to
-- redis.call is formatted with printf("%.14g"); with the parsing of numbers that was about a seventh
-- of a call's instructions.
--
-- Reply: { allowed (1, 0, or -1 when the quota counter is missing and must be rebuilt first),
--          minute used, minute reset ms, day used, day reset ms, retry ms, quota used,
--          1 when the quota is what refused }.
-- A refused request changes no count, in any window or the quota.
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[4])
local consume = ARGV[5] == '1'
local has_quota = #KEYS == 3
local MISSING = { -1, 0, 0, 0, 0, 0, 0, 0 }

local function load(key, bucket_ms, nbuckets, limit, field)
  local current = math.floor(now / bucket_ms)
  local first = current - nbuckets + 1
  local meta = redis.call('HMGET', key, 't', 'o')
  local stored_total = tonumber(meta[1]) or 0
  local total = stored_total
  local stored = tonumber(meta[2])
  local oldest = stored or current
  local existed = meta[1] ~= false
  if total <= 0 then
    total = 0
    oldest = current
  elseif oldest < first then
    if first - oldest >= nbuckets then
      redis.call('DEL', key)
      total = 0
      stored = nil
      existed = false
    else
      for b = oldest, first - 1 do
        local c = redis.call('HGET', key, b)
        if c then
          total = total - tonumber(c)
          redis.call('HDEL', key, b)
        end
      end
    end
    if total <= 0 then
      total = 0
      oldest = current
    else
      oldest = first
      while oldest < current and redis.call('HEXISTS', key, oldest) == 0 do
        oldest = oldest + 1
      end
    end
  end
  local dirty = total ~= stored_total or oldest ~= stored
  return { key = key, bucket_ms = bucket_ms, nbuckets = nbuckets, limit = limit, current = current,
           field = field, total = total, oldest = oldest, existed = existed, dirty = dirty }
end

local function reset_ms(w)
  if w.total <= 0 then return 0 end
  return (w.oldest + w.nbuckets) * w.bucket_ms - now
end

local function retry_ms(w)
  local need = w.total + cost - w.limit
  if need <= 0 then return 0 end
  local freed = 0
  for b = w.oldest, w.current do
    local c = redis.call('HGET', w.key, b)
    if c then
      freed = freed + tonumber(c)
      if freed >= need then return (b + w.nbuckets) * w.bucket_ms - now end
    end
  end
  return (w.current + w.nbuckets) * w.bucket_ms - now
end

-- `add` is 0 or the cost, and then `add_arg` is the cost as it came (ARGV[4]).
local function save(w, add, add_arg)
  if add > 0 then
    if redis.call('HINCRBY', w.key, w.field, add_arg) == add then
      redis.call('PEXPIRE', w.key, w.nbuckets * w.bucket_ms)
    end
    w.total = w.total + add
    if w.dirty then
      redis.call('HSET', w.key, 't', w.total, 'o', w.oldest)
    else
      redis.call('HINCRBY', w.key, 't', add_arg)
    end
  elseif w.dirty then
    if w.total > 0 then
      redis.call('HSET', w.key, 't', w.total, 'o', w.oldest)
    elseif w.existed then
      redis.call('DEL', w.key)
    end
  end
end

local m = load(KEYS[1], {{MINUTE_BUCKET_MS}}, {{MINUTE_BUCKETS}}, tonumber(ARGV[2]), ARGV[6])
local d = load(KEYS[2], {{DAY_BUCKET_MS}}, {{DAY_BUCKETS}}, tonumber(ARGV[3]), ARGV[7])
local windows_allow = m.total + cost <= m.limit and d.total + cost <= d.limit

-- The quota counter holds 1 + the units used, so a counter that exists is never 0 and INCRBY alone
-- tells a missing one (it answers exactly `cost`). A missing counter is not a fresh period: Redis may
-- have lost it, so nothing is decided or counted until the caller has rebuilt it from Postgres.
-- An admitted request costs one INCRBY; one the quota refuses is taken back with DECRBY.
local quota_used = 0
local quota_refused = false
if has_quota then
  local block = ARGV[9] == '1'
  local limit = tonumber(ARGV[8])
  if windows_allow and consume then
    local stored = redis.call('INCRBY', KEYS[3], ARGV[4])
    if stored == cost then
      redis.call('DEL', KEYS[3])
      return MISSING
    end
    quota_used = stored - 1
    if block and quota_used > limit then
      redis.call('DECRBY', KEYS[3], ARGV[4])
      quota_used = quota_used - cost
      quota_refused = true
    end
  else
    local stored = redis.call('GET', KEYS[3])
    if stored == false then return MISSING end
    quota_used = tonumber(stored) - 1
    quota_refused = block and quota_used + cost > limit
  end
end

local allowed = windows_allow and not quota_refused
local retry = 0
if allowed then
  local add = consume and cost or 0
  save(m, add, ARGV[4])
  save(d, add, ARGV[4])
else
  if not windows_allow then retry = math.max(retry_ms(m), retry_ms(d)) end
  save(m, 0)
  save(d, 0)
end
return { allowed and 1 or 0, m.total, reset_ms(m), d.total, reset_ms(d), retry, quota_used,
         quota_refused and 1 or 0 }
