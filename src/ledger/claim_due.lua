-- Claim up to N due payouts from the due index: each claimed id's score is pushed
-- to now + lease, so a concurrent sweep (another replica, the next tick) cannot
-- claim it again until the lease runs out. Cost: O(log n + claimed).
-- KEYS[1] due index; ARGV[1] now (ms), ARGV[2] limit, ARGV[3] lease (ms), ARGV[4] payout key prefix
-- Returns a flat list: id, state, kind, id, state, kind, ...
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
local until_ms = tonumber(ARGV[1]) + tonumber(ARGV[3])
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], until_ms, id)
  local f = redis.call('HMGET', ARGV[4] .. id, 'state', 'kind')
  table.insert(out, id)
  table.insert(out, f[1] or '')
  table.insert(out, f[2] or '')
end
return out
