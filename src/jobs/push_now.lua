-- Push jobs that are due now straight onto apalis' active list.
-- apalis' own push (batch_push.lua) clamps every run time to "now" or later and so
-- puts every job in `:scheduled`, from where a promotion moves it to `:active`
-- (ZADD + ZRANGEBYSCORE + RPUSH + ZREM per job). A job due now skips that detour;
-- it never counts towards the ~8,000 due scheduled jobs that break apalis' fetch
-- (APALIS.md pitfall 4). What is written per job is what batch_push.lua writes for
-- a job without a run time: the data field, the metadata hash, the active list.
-- KEYS[1] data hash, KEYS[2] active list, KEYS[3] signal list, KEYS[4] metadata key prefix
-- ARGV: task id, data, task id, data, ... (ids are fresh ULIDs, so never taken: all
-- the data fields go in one HSET rather than an HSETNX per job; at most 2 × 1,000
-- arguments, far below what unpack takes)
-- Returns the number of jobs pushed.
if #ARGV == 0 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
local ids = {}
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  redis.call('HSET', KEYS[4] .. ':' .. id, 'attempts', 0, 'max_attempts', 25,
    'status', 'Pending', 'idempotency_key', '')
  ids[#ids + 1] = id
end
redis.call('RPUSH', KEYS[2], unpack(ids))
redis.call('DEL', KEYS[3])
redis.call('LPUSH', KEYS[3], 1)
return #ids
