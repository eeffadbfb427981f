-- Find the payouts in states that keep no state set (ACCEPTED, SUBMITTING: see
-- ledger::has_state_set). Every such payout is either in the due index or parked, and
-- a parked payout always has a dead letter (the transition that parks it writes both).
-- So: one chunk of the due index by rank per call, and after the last chunk the dead
-- letters, for the parked ones (not in the due index).
-- KEYS[1] due index, KEYS[2] dead-letter hash
-- ARGV[1] payout key prefix, ARGV[2] cursor (rank to start at), ARGV[3] chunk size,
-- ARGV[4..] the states wanted
-- Returns {next cursor (0 = done), id, state, id, state, ...}
local wanted = {}
for i = 4, #ARGV do
  wanted[ARGV[i]] = true
end
local out = {'0'}
local start = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local ids = redis.call('ZRANGE', KEYS[1], start, start + n - 1)
for _, id in ipairs(ids) do
  local st = redis.call('HGET', ARGV[1] .. id, 'state')
  if st and wanted[st] then
    out[#out + 1] = id
    out[#out + 1] = st
  end
end
if #ids == n then
  out[1] = tostring(start + n)
  return out
end
local seen = {}
for _, letter in ipairs(redis.call('HVALS', KEYS[2])) do
  local ok, l = pcall(cjson.decode, letter)
  local id = ok and type(l) == 'table' and l['payout'] or nil
  if type(id) == 'string' and not seen[id] then
    seen[id] = true
    if not redis.call('ZSCORE', KEYS[1], id) then
      local st = redis.call('HGET', ARGV[1] .. id, 'state')
      if st and wanted[st] then
        out[#out + 1] = id
        out[#out + 1] = st
      end
    end
  end
end
return out
