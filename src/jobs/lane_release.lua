-- Give fetched but unstarted jobs back (a worker shutting down).
-- KEYS[1] the worker's in-flight set, KEYS[2] active list, KEYS[3] signal list,
-- KEYS[4] job meta key prefix
-- ARGV ids of the jobs. Returns the number given back.
local back = 0
for _, id in ipairs(ARGV) do
  if redis.call('SREM', KEYS[1], id) == 1 then
    redis.call('RPUSH', KEYS[2], id)
    redis.call('HSET', KEYS[4] .. ':' .. id, 'status', 'Pending')
    back = back + 1
  end
end
if back > 0 then
  redis.call('DEL', KEYS[3])
  redis.call('LPUSH', KEYS[3], 1)
end
return back
