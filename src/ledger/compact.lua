-- Put a final payout in its cold form (ledger/cold.rs): the `z` field replaces the
-- fields a final record no longer changes, and the history list, whose entries
-- the cold form holds. Only if nothing moved since the caller read the record:
-- the version (transitions write `last` and bump it), whether `last` holds
-- anything, and the list length (append.lua empties `last` and pushes, or only
-- pushes), so no entry written in between can be lost.
-- KEYS[1] payout hash, KEYS[2] history list, KEYS[3] cold index
-- ARGV[1] payout id, ARGV[2] version read, ARGV[3] list length read,
-- ARGV[4] "1" if `last` held an entry, "0" if not, ARGV[5] the cold form ("" to only
-- drop the id)
-- ARGV[6] how many fields the record held when read: state, version, fp, kind and
-- the ones the cold form holds (doc, meta, ext, created, last)
-- Returns 1 compacted, 0 nothing to do (dropped from the index), -1 moved since read
-- (left in the index for the next pass), -2 a field the cold form would not keep
-- (dropped from the index, the record left as it is).
local cur = redis.call('HMGET', KEYS[1], 'state', 'version', 'last', 'z', 'fp', 'kind')
local state = cur[1]
local final = (state == 'SUCCEEDED' or state == 'CANCELLED' or state == 'FAILED')
if not final or cur[4] or ARGV[5] == '' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 0
end
local held = (cur[3] and cur[3] ~= '') and '1' or '0'
if cur[2] ~= ARGV[2] or held ~= ARGV[4]
  or redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[3]) then
  return -1
end
-- Written afresh rather than HDEL'd down: Redis never turns a hash back into a
-- listpack, so only a new hash takes the compact encoding where the server's
-- hash-max-listpack-value allows the cold form (README, "Compaction").
if not cur[5] or not cur[6] or redis.call('HLEN', KEYS[1]) ~= tonumber(ARGV[6]) then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return -2
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'state', state, 'version', cur[2], 'fp', cur[5], 'kind', cur[6], 'z', ARGV[5])
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
