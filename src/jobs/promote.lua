-- Move at most ARGV[2] due jobs from apalis' scheduled set to its active list.
-- apalis' own fetch promotes *every* due job with one `unpack`, which fails once
-- ~8,000 are due at once (APALIS.md pitfall 4) and kills every worker. Running this
-- first, in bounded chunks, keeps the number of due scheduled jobs small.
-- KEYS[1] scheduled set, KEYS[2] active list, KEYS[3] signal list
-- ARGV[1] now (unix seconds), ARGV[2] chunk size
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], 0, ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then
  return 0
end
for _, id in ipairs(ids) do
  redis.call('RPUSH', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
end
redis.call('DEL', KEYS[3])
redis.call('LPUSH', KEYS[3], 1)
return #ids
