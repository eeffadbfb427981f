-- Create a payout, or report the existing one. Ledger first: this runs before any
-- job is pushed, so a payout exists before anything can act on it.
-- The "created" audit entry is kept in the record's `created` field rather than
-- in the history list: an ACCEPTED payout is one key, and the list starts with
-- the first transition (Ledger::history reads both, `created` first).
-- KEYS[1] payout hash, KEYS[2] (unused, kept for callers' key order), KEYS[3] due index
-- ARGV[1] fingerprint, ARGV[2] doc JSON, ARGV[3] meta JSON, ARGV[4] history entry JSON,
-- ARGV[5] due score (ms), ARGV[6] payout id, ARGV[7] kind, ARGV[8] secret ("" if none)
-- Version 1 is ledger::CREATED_VERSION: a transfer's job carries the record as written
-- here and the worker's compare-and-set on version 1 proves it still current.
local existing = redis.call('HGET', KEYS[1], 'fp')
if existing then
  local state = redis.call('HGET', KEYS[1], 'state')
  if existing == ARGV[1] then
    return {'exists', state}
  end
  return {'conflict', state}
end
redis.call('HSET', KEYS[1], 'state', 'ACCEPTED', 'version', 1, 'fp', ARGV[1], 'doc', ARGV[2],
  'meta', ARGV[3], 'ext', '', 'kind', ARGV[7], 'created', ARGV[4])
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'secret', ARGV[8])
end
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
-- No state set: ACCEPTED keeps none (ledger::has_state_set); the due index lists it.
return {'created', 'ACCEPTED'}
