-- Register a worker of one lane (kirim's backend; apalis-redis' key layout).
-- KEYS[1] workers sorted set (score = last heartbeat, unix s), KEYS[2] the lane's
-- active list, KEYS[3] signal list, KEYS[4] in-flight set prefix, KEYS[5] the
-- worker's metadata hash, KEYS[6] the list of queues
-- ARGV[1] now, ARGV[2] worker name, ARGV[3] orphan threshold (s), ARGV[4] service
-- A name seen within the threshold is refused (two live workers must not share an
-- in-flight set); a name seen longer ago gets its old in-flight jobs back first.
local now = tonumber(ARGV[1])
local name = ARGV[2]
local seen = redis.call('ZSCORE', KEYS[1], name)
if seen then
  if now - tonumber(seen) < tonumber(ARGV[3]) then
    return redis.error_reply('worker is still active within threshold')
  end
  local inflight = KEYS[4] .. ':' .. name
  local jobs = redis.call('SMEMBERS', inflight)
  if #jobs > 0 then
    redis.call('RPUSH', KEYS[2], unpack(jobs))
    redis.call('DEL', inflight)
    redis.call('DEL', KEYS[3])
    redis.call('LPUSH', KEYS[3], 1)
  end
end
redis.call('ZADD', KEYS[1], now, name)
redis.call('ZADD', KEYS[6], 'GT', now, KEYS[1])
redis.call('HSET', KEYS[5], 'backend_name', 'kirim', 'service', ARGV[4])
return 1
