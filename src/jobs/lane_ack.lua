-- Acknowledge a batch of finished jobs of one worker (kirim's ack; apalis-redis'
-- own writes three commands per job, this a handful per batch).
-- KEYS[1] the worker's in-flight set, KEYS[2] done set, KEYS[3] finish-time index
-- (sorted set, score = unix seconds; retention reads it), KEYS[4] dead set,
-- KEYS[5] scheduled set, KEYS[6] job meta key prefix
-- ARGV[1] now (unix seconds), ARGV[2] n, ARGV[3 .. 2+n] ids of jobs that are Done,
-- then groups of four for every other status: id, status, attempt, result JSON.
-- A job no longer in the in-flight set (orphan recovery re-queued it meanwhile)
-- is not acknowledged: it runs again, which the ledger makes harmless.
-- Returns the number of jobs acknowledged.
local now = ARGV[1]
local n = tonumber(ARGV[2])
local acked = 0
if n > 0 then
  local held = redis.call('SMISMEMBER', KEYS[1], unpack(ARGV, 3, 2 + n))
  local ids, scored = {}, {}
  for i = 1, n do
    if held[i] == 1 then
      local id = ARGV[2 + i]
      ids[#ids + 1] = id
      scored[#scored + 1] = now
      scored[#scored + 1] = id
    end
  end
  if #ids > 0 then
    redis.call('SREM', KEYS[1], unpack(ids))
    redis.call('SADD', KEYS[2], unpack(ids))
    redis.call('ZADD', KEYS[3], unpack(scored))
    acked = #ids
  end
end
for i = 3 + n, #ARGV, 4 do
  local id, status, attempt, result = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('SREM', KEYS[1], id) == 1 then
    -- Not Done: apalis-redis' rule (retry Failed/Pending up to 25 attempts at
    -- now + attempt seconds, otherwise dead); kirim's handler returns Ok for every
    -- payout outcome and enforces its own attempt cap, so this is the rare path.
    if (status == 'Failed' or status == 'Pending') and (tonumber(attempt) or 0) < 25 then
      redis.call('ZADD', KEYS[5], tonumber(now) + (tonumber(attempt) or 0), id)
    else
      redis.call('SADD', KEYS[4], id)
      redis.call('ZADD', KEYS[3], now, id)
    end
    redis.call('HSET', KEYS[6] .. ':' .. id, 'result', result, 'status', status,
      'attempts', attempt, 'done_at', now)
    acked = acked + 1
  end
end
return acked
