-- Append an audit entry that changes no state. What waits in the record's `last`
-- field (a non-final payout's latest entry, a final payout's last two; see
-- transition.lua) goes to the list first, so the trail stays in order. Never
-- creates the record.
-- KEYS[1] payout hash, KEYS[2] history list; ARGV[1] entry JSON
local last = redis.call('HGET', KEYS[1], 'last')
if last and last ~= '' then
  local items = {}
  for e in string.gmatch(last, '[^\n]+') do
    items[#items + 1] = e
  end
  items[#items + 1] = ARGV[1]
  redis.call('HSET', KEYS[1], 'last', '')
  return redis.call('RPUSH', KEYS[2], unpack(items))
end
return redis.call('RPUSH', KEYS[2], ARGV[1])
