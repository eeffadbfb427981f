-- A worker's heartbeat, and the re-queueing of every expired worker's jobs.
-- KEYS[1] workers sorted set, KEYS[2] active list, KEYS[3] signal list,
-- KEYS[4] in-flight set prefix
-- ARGV[1] now, ARGV[2] worker name, ARGV[3] expiry (a worker last seen at or before
-- this is dead: its in-flight jobs go back to the active list)
-- Returns the number of jobs re-queued; an error when this worker is not registered
-- (it was declared dead and its jobs re-queued: it must register again).
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  return redis.error_reply('heartbeat failed: worker not registered')
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local requeued = 0
for _, w in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], 0, ARGV[3])) do
  local inflight = KEYS[4] .. ':' .. w
  local jobs = redis.call('SMEMBERS', inflight)
  if #jobs > 0 then
    redis.call('RPUSH', KEYS[2], unpack(jobs))
    redis.call('DEL', inflight)
    requeued = requeued + #jobs
  end
  redis.call('ZREM', KEYS[1], w)
end
if requeued > 0 then
  redis.call('DEL', KEYS[3])
  redis.call('LPUSH', KEYS[3], 1)
end
return requeued
