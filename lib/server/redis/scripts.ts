// What the servers share in Redis, and the Lua scripts that change it.
//
// Three kinds of keys:
// - `chat:seq`, the global message counter, and `chat:history`, a stream
//   whose entry ids are `<seq>-0`. One script increments the counter and
//   appends the entries, so seq is one sequence across every server and the
//   stream is in seq order.
// - `chat:nick:<nickname key>`, one per logged-in nickname, set with NX and
//   a lease (PX) that its server renews while the connection lives. A
//   server that dies stops renewing, and its nicknames come free when their
//   leases end.
//
// Every change that must be atomic is one script, run with EVAL.

import type { RedisClient } from "./client.ts";

/** The key of the global seq counter. */
export const SEQ_KEY = "chat:seq";
/** The key of the history stream (entry ids are `<seq>-0`). */
export const HISTORY_KEY = "chat:history";
/**
 * The prefix of nickname lease keys; the rest is the nickname's key: its
 * confusable skeleton after case folding (lib/nickname.ts), so `Emma` is
 * `chat:nick:ernrna`. Servers of before that key (case folded only) and of
 * after it disagree on names with look-alike characters (or m, 0, 1, |): a
 * look-alike can slip in until every server of a chat runs the same code.
 */
export const NICK_PREFIX = "chat:nick:";

/**
 * Appends messages: each gets seq = the counter + 1, kept above both
 * `floor` (the newest seq the calling server holds: a Redis that lost its
 * data must not hand out old seqs again) and the newest entry (XADD needs
 * rising ids). Returns the first message's seq; the others follow it one
 * by one.
 *
 * KEYS: seq, history. ARGV: floor, maxlen (0: none), then per message:
 * from, message, time, origin.
 */
export const APPEND_SCRIPT = `
local floor = tonumber(ARGV[1])
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if top[1] then
  local last = tonumber(string.match(top[1][1], '^(%d+)'))
  if last > floor then floor = last end
end
local count = (#ARGV - 2) / 4
local seq = redis.call('INCRBY', KEYS[1], count) - count + 1
if seq <= floor then
  seq = floor + 1
  redis.call('SET', KEYS[1], seq + count - 1)
end
local maxlen = tonumber(ARGV[2])
for i = 0, count - 1 do
  local at = 3 + i * 4
  local id = (seq + i) .. '-0'
  local fields = {'from', ARGV[at], 'message', ARGV[at + 1], 'time', ARGV[at + 2], 'origin', ARGV[at + 3]}
  if maxlen > 0 then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, id, unpack(fields))
  else
    redis.call('XADD', KEYS[2], id, unpack(fields))
  end
end
return seq
`;

/**
 * Claims a nickname: its key set to `owner` with NX and a lease. Returns
 * the newest seq (the replay must reach it), or -1 when the nickname is
 * taken.
 *
 * KEYS: nick, seq. ARGV: owner, lease ms.
 */
export const CLAIM_SCRIPT = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
return -1
`;

/** Deletes a nickname's key if `owner` still holds it. KEYS: nick. ARGV: owner. */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Renews the leases of nicknames this server holds, taking back any that
 * expired meanwhile (Redis was unreachable for longer than the lease).
 * Returns the 1-based positions of those another server holds now.
 *
 * KEYS: nicks. ARGV: lease ms, then one owner per key.
 */
export const RENEW_SCRIPT = `
local lost = {}
for i, key in ipairs(KEYS) do
  local owner = ARGV[i + 1]
  local now = redis.call('GET', key)
  if now == owner then
    redis.call('PEXPIRE', key, ARGV[1])
  elseif not now then
    redis.call('SET', key, owner, 'PX', ARGV[1])
  else
    table.insert(lost, i)
  end
end
return lost
`;

/**
 * Runs a script. EVAL with the script's text rather than EVALSHA: Redis
 * caches it by its hash all the same, and a Redis that restarted (and lost
 * its script cache) never refuses it, so nothing is sent twice and one
 * author's messages never overtake each other on a NOSCRIPT retry.
 */
export function runScript(
  client: RedisClient,
  script: string,
  keys: string[],
  args: string[],
): Promise<unknown> {
  return client.eval(script, { keys, arguments: args });
}
