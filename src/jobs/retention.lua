-- Delete finished apalis jobs (Done or Killed) older than a cutoff, for the ids given.
-- KEYS[1] done set, KEYS[2] dead set, KEYS[3] data hash, KEYS[4] meta key prefix,
-- KEYS[5] finish-time index (jobs::backend::done_at_key)
-- ARGV[1] cutoff (unix seconds), ARGV[2..] task ids
-- The finish time is the index's score (kirim's ack, jobs/lane_ack.lua) or, for a
-- job acknowledged by apalis-redis' own ack before the upgrade, its meta `done_at`.
local removed = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local meta = KEYS[4] .. ':' .. id
  local done_at = tonumber(redis.call('ZSCORE', KEYS[5], id)
    or redis.call('HGET', meta, 'done_at') or '0')
  if done_at > 0 and done_at < tonumber(ARGV[1]) then
    redis.call('SREM', KEYS[1], id)
    redis.call('SREM', KEYS[2], id)
    redis.call('ZREM', KEYS[5], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4] .. ':result', id)
    redis.call('DEL', meta)
    removed = removed + 1
  end
end
return removed
