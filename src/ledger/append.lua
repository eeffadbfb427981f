-- Append an audit entry that changes no state. A non-final payout's latest entry
-- waits in the record's `last` field (see transition.lua); it goes to the list
-- first, so the trail stays in order. Never creates the record.
-- KEYS[1] payout hash, KEYS[2] history list; ARGV[1] entry JSON
local last = redis.call('HGET', KEYS[1], 'last')
if last and last ~= '' then
  redis.call('HSET', KEYS[1], 'last', '')
  return redis.call('RPUSH', KEYS[2], last, ARGV[1])
end
return redis.call('RPUSH', KEYS[2], ARGV[1])
