-- Atomic compare-and-set of a payout's state (forward only).
-- KEYS[1] payout hash, KEYS[2] history list, KEYS[3] due index,
-- KEYS[4] events hash, KEYS[5] events due index (the notification outbox)
-- KEYS[6] dead-letter hash, KEYS[7] dead-letter sequence, KEYS[8] cold index
-- (final payouts waiting for their cold form, by final time: compact.lua)
-- ARGV[1] expected version, ARGV[2] target state, ARGV[3] meta JSON,
-- ARGV[4] history entry JSON (may contain __EXTID__), ARGV[5] due score ("" removes from the index),
-- ARGV[6] payout id, ARGV[7] state-set key prefix,
-- ARGV[8] the X-EXTERNAL-ID to record with this move ("" for none; allocated by the
-- caller from the clock, see domain::external_id, never from a Redis counter)
-- ARGV[9] event id ("" for none), ARGV[10] event JSON, ARGV[11] now (ms: the event's
-- due time and a final payout's score in the cold index)
-- ARGV[12] dead-letter JSON starting with {"id":0, ("" for none): parking and its
-- letter are one atomic step, so a parked payout is never without its letter
-- Returns {'ok', state, version, ext_id} or {'conflict', state, version} or {'forbidden', state, version}
local ALLOWED = __ALLOWED__
-- The entries waiting in the record's `last` field, oldest first: one, or two for
-- a final payout. Entries are compact JSON, which never holds a raw newline, so a
-- newline separates them.
local function waiting(s)
  local out = {}
  for e in string.gmatch(s, '[^\n]+') do
    out[#out + 1] = e
  end
  return out
end
local SETS = __SETS__
local cur = redis.call('HMGET', KEYS[1], 'state', 'version', 'ext', 'secret', 'last')
local state, version = cur[1], cur[2]
if not state then
  return {'missing', '', '0'}
end
if version ~= ARGV[1] then
  return {'conflict', state, version}
end
local to = ARGV[2]
if not ALLOWED[state .. '>' .. to] then
  return {'forbidden', state, version}
end
local ext = ''
local entry = ARGV[4]
local newv = tostring(tonumber(version) + 1)
if ARGV[8] ~= '' then
  ext = ARGV[8]
  entry = string.gsub(entry, '__EXTID__', ext)
end
-- The audit trail: the latest entry of a non-final payout is kept in the record's
-- `last` field, and what waits there is pushed to the history list when the next
-- entry arrives; a final move keeps the waiting entry and its own in `last`. A
-- payout that goes ACCEPTED → SUBMITTING → final so has no list at all
-- (Ledger::history reads created, list, last; append.lua pushes `last` first).
local last = cur[5]
local had_last = last and last ~= ''
local final = (to == 'SUCCEEDED' or to == 'CANCELLED' or to == 'FAILED')
local fields = {'state', to, 'version', newv, 'meta', ARGV[3]}
if ext ~= '' then
  local all = ext
  if cur[3] and cur[3] ~= '' then
    all = cur[3] .. ',' .. ext
  end
  fields[#fields + 1] = 'ext'
  fields[#fields + 1] = all
end
fields[#fields + 1] = 'last'
if final then
  if had_last then
    fields[#fields + 1] = last .. '\n' .. entry
  else
    fields[#fields + 1] = entry
  end
else
  if had_last then
    redis.call('RPUSH', KEYS[2], unpack(waiting(last)))
  end
  fields[#fields + 1] = entry
end
redis.call('HSET', KEYS[1], unpack(fields))
if final and cur[4] then
  -- A card token lives only as long as its payment: gone with the final state.
  -- Records without one (transfers) skip the HDEL.
  redis.call('HDEL', KEYS[1], 'secret')
end
if to ~= state then
  -- Only the lasting states keep a set (SETS; ACCEPTED and SUBMITTING do not, see
  -- ledger::has_state_set). One SMOVE between two sets instead of SREM + SADD; a
  -- record missing from its state's set (an old record, a set lost by hand) is
  -- still added to the new one.
  local from_set, to_set = SETS[state], SETS[to]
  if from_set and to_set then
    if redis.call('SMOVE', ARGV[7] .. state, ARGV[7] .. to, ARGV[6]) == 0 then
      redis.call('SADD', ARGV[7] .. to, ARGV[6])
    end
  elseif to_set then
    redis.call('SADD', ARGV[7] .. to, ARGV[6])
  elseif from_set then
    redis.call('SREM', ARGV[7] .. state, ARGV[6])
  end
end
if final then
  redis.call('ZADD', KEYS[8], ARGV[11], ARGV[6])
end
if ARGV[5] == '' then
  redis.call('ZREM', KEYS[3], ARGV[6])
else
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
end
if ARGV[9] ~= '' then
  -- Outbox: written in the same atomic step as the final state, so a notification
  -- can be late but never lost; the id is stable, so it is written at most once.
  if redis.call('HSETNX', KEYS[4], ARGV[9], ARGV[10]) == 1 then
    redis.call('ZADD', KEYS[5], ARGV[11], ARGV[9])
  end
end
if ARGV[12] ~= '' then
  local id = redis.call('INCR', KEYS[7])
  local letter = string.gsub(ARGV[12], '^{"id":0,', '{"id":' .. id .. ',', 1)
  redis.call('HSET', KEYS[6], id, letter)
end
return {'ok', to, newv, ext}
