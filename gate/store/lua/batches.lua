-- Run several store batches in one atomic script call (group commit).
--
-- ARGV: for each batch: its op count, then per op an opcode and its arguments.
-- KEYS: one key per op, in the same order.  Opcodes:
--   g          GET key                           -> value | false
--   t          GETDEL key                        -> value | false
--   p v ms     SET key v PX ms                   -> 1
--   n v ms     SET key v NX PX ms; GET key       -> the value stored now
--   d          DEL key                           -> removed count
--   i n ms     INCRBY key n; PEXPIRE key ms NX when it created the counter -> new value
--   h f n ms   HINCRBY key f n; PEXPIRE key ms NX when it created the field -> new value
--   a          HGETALL key                       -> flat field/value list
-- Returns one array per batch: {error or false, result, result, ...}.  An op that fails records
-- the first error of its batch and the batch goes on (MULTI/EXEC semantics, no rollback).
local out = {}
local a, k = 1, 1
while a <= #ARGV do
  local count = tonumber(ARGV[a])
  a = a + 1
  local batch = {false}
  for _ = 1, count do
    local op, key, reply = ARGV[a], KEYS[k], nil
    k = k + 1
    if op == 'g' then
      reply = redis.pcall('GET', key); a = a + 1
    elseif op == 't' then
      reply = redis.pcall('GETDEL', key); a = a + 1
    elseif op == 'p' then
      reply = redis.pcall('SET', key, ARGV[a + 1], 'PX', ARGV[a + 2]); a = a + 3
      if type(reply) == 'table' and reply.ok then reply = 1 end
    elseif op == 'n' then
      reply = redis.pcall('SET', key, ARGV[a + 1], 'NX', 'PX', ARGV[a + 2])
      if not (type(reply) == 'table' and reply.err) then reply = redis.pcall('GET', key) end
      a = a + 3
    elseif op == 'd' then
      reply = redis.pcall('DEL', key); a = a + 1
    elseif op == 'i' then
      reply = redis.pcall('INCRBY', key, ARGV[a + 1])
      -- Only a counter this call created needs its TTL (NX would keep an existing one anyway).
      if reply == tonumber(ARGV[a + 1]) then redis.pcall('PEXPIRE', key, ARGV[a + 2], 'NX') end
      a = a + 3
    elseif op == 'h' then
      reply = redis.pcall('HINCRBY', key, ARGV[a + 1], ARGV[a + 2])
      if reply == tonumber(ARGV[a + 2]) then redis.pcall('PEXPIRE', key, ARGV[a + 3], 'NX') end
      a = a + 4
    elseif op == 'a' then
      reply = redis.pcall('HGETALL', key); a = a + 1
    else
      return redis.error_reply('unknown store opcode ' .. tostring(op))
    end
    if type(reply) == 'table' and reply.err then
      if batch[1] == false then batch[1] = reply.err end
      reply = false
    end
    batch[#batch + 1] = reply
  end
  out[#out + 1] = batch
end
return out
