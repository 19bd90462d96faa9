-- The rate-limit decision, one atomic call for one or more checks of one key (see redis-limiter.ts
-- for the windows' layout).
--
-- KEYS[1], KEYS[2]: the key's minute and day windows. KEYS[3], when present: the user's quota counter
-- for one billing period (an integer: 1 + the units used). All three carry the user's hash tag, so
-- they share a Redis Cluster slot.
-- ARGV: now (ms), per-minute limit, per-day limit, cost (units), consume ("1" counts, "0" only
-- decides), the current minute and day buckets (floor(now / bucket ms), as the field names they are),
-- with a quota: the quota (units) and block ("1": refuse past it, "0": admit and count, the overage
-- is billed); and last, count: how many checks of this cost arrived together (1 for a read). The
-- counter gets its time to live when it is (re)built, not here.
-- The bucket names and the cost go to Redis as the strings they came as: a Lua number passed to
-- redis.call is formatted with printf("%.14g"); with the parsing of numbers that was about a seventh
-- of a call's instructions.
--
-- The `count` checks are decided as if they had come one after another: the first `admitted` are
-- admitted, each counted, and the rest refused, as the state after the admitted ones refuses them.
-- Reply: { admitted (0 to count, or -1 when the quota counter is missing and must be rebuilt first),
--          minute used, minute reset ms, day used, day reset ms, retry ms, quota used,
--          1 when the quota is what refused }: counts and resets as they stand after the admitted
--          checks; retry and the quota's refusal are the refused checks'.
-- A refused check changes no count, in any window or the quota.
--
-- A call may give back units counted earlier and not used (a replica's lease, limit-lease.ts): then
-- three more arguments come before the count: the units, and the minute and day buckets they were
-- counted in. They are taken off those buckets, the windows' totals and the quota counter before
-- anything is decided, where the bucket still holds them (a bucket that has left its window has
-- nothing to give back). A call with count 0 only gives back.
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[4])
local consume = ARGV[5] == '1'
local count = tonumber(ARGV[#ARGV])
local has_quota = #KEYS == 3
local MISSING = { -1, 0, 0, 0, 0, 0, 0, 0 }

local base = has_quota and 9 or 7
if #ARGV == base + 4 then
  local give = tonumber(ARGV[base + 1])
  for i = 1, 2 do
    local held = tonumber(redis.call('HGET', KEYS[i], ARGV[base + 1 + i]))
    if held and held >= give then
      redis.call('HINCRBY', KEYS[i], ARGV[base + 1 + i], -give)
      redis.call('HINCRBY', KEYS[i], 't', -give)
    end
  end
  if has_quota then
    local stored = tonumber(redis.call('GET', KEYS[3]))
    if stored and stored > give then redis.call('DECRBY', KEYS[3], give) end
  end
end

local function load(key, bucket_ms, nbuckets, limit, field)
  local current = math.floor(now / bucket_ms)
  local first = current - nbuckets + 1
  local meta = redis.call('HMGET', key, 't', 'o')
  -- What left the window is removed by save(), not here: a call that returns MISSING writes nothing.
  local drop = false
  local expired = nil -- made only when a bucket has left the window: most calls find none
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
      drop = true
      total = 0
      stored = nil
      existed = false
    else
      for b = oldest, first - 1 do
        local c = redis.call('HGET', key, b)
        if c then
          total = total - tonumber(c)
          expired = expired or {}
          expired[#expired + 1] = b
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
           field = field, total = total, oldest = oldest, existed = existed, dirty = dirty, drop = drop,
           expired = expired }
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

-- `add` is 0 or the units admitted; `add_arg` is the same as Redis is to be given it (ARGV[4], the cost
-- as it came, when one check was admitted).
local function save(w, add, add_arg)
  if w.drop then
    redis.call('DEL', w.key)
  elseif w.expired then
    redis.call('HDEL', w.key, unpack(w.expired))
  end
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

-- How many more checks of this cost a window takes.
local function room(w)
  return math.floor((w.limit - w.total) / cost)
end
local admitted = math.max(0, math.min(count, room(m), room(d)))

-- The quota counter holds 1 + the units used, so a counter that exists is never 0 and INCRBY alone
-- tells a missing one (it answers exactly what it added). A missing counter is not a fresh period:
-- Redis may have lost it, so nothing is decided or counted until the caller has rebuilt it from
-- Postgres. Admitted checks cost one INCRBY; those the quota refuses are taken back with DECRBY.
local quota_used = 0
local quota = has_quota and tonumber(ARGV[8]) or 0
local block = has_quota and ARGV[9] == '1'
if has_quota then
  if admitted > 0 and consume then
    local add = admitted * cost
    local stored = redis.call('INCRBY', KEYS[3], admitted == 1 and ARGV[4] or add)
    if stored == add then
      redis.call('DEL', KEYS[3])
      return MISSING
    end
    quota_used = stored - 1
    if block and quota_used > quota then
      -- Only the checks that fitted before these came are admitted; the rest are taken back.
      local fits = math.max(0, math.floor((quota - (quota_used - add)) / cost))
      redis.call('DECRBY', KEYS[3], (admitted - fits) * cost)
      quota_used = quota_used - (admitted - fits) * cost
      admitted = fits
    end
  else
    local stored = redis.call('GET', KEYS[3])
    if stored == false then return MISSING end
    quota_used = tonumber(stored) - 1
    if block and quota_used + cost > quota then admitted = 0 end
  end
end

if consume and admitted > 0 then
  local add = admitted * cost
  local add_arg = admitted == 1 and ARGV[4] or add
  save(m, add, add_arg)
  save(d, add, add_arg)
else
  save(m, 0)
  save(d, 0)
end
-- What refuses the rest, as things stand after the admitted ones: the windows (and when they will
-- take one), the quota.
local retry = 0
local quota_refused = false
if admitted < count then
  if m.total + cost > m.limit or d.total + cost > d.limit then
    retry = math.max(retry_ms(m), retry_ms(d))
  end
  quota_refused = block and quota_used + cost > quota
end
return { admitted, m.total, reset_ms(m), d.total, reset_ms(d), retry, quota_used,
         quota_refused and 1 or 0 }
