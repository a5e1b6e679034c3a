// What the servers share in Redis, and the Lua scripts that change it.
//
// The keys:
// - `chat:seq`, the global message counter, and `chat:history`, a stream
//   whose entry ids are `<seq>-0`. One script increments the counter and
//   appends the entries, so seq is one sequence across every server and the
//   stream is in seq order.
// - `chat:nick:<nickname key>`, one per logged-in nickname, set with NX and
//   a lease (PX) that its server renews while the connection lives. A
//   server that dies stops renewing, and its nicknames come free when their
//   leases end.
// - Presence (PROTOCOL.md §10): `chat:presence`, a hash of everyone logged
//   in (nickname key → "<owner> <direct 0|1> <nickname>", the owner being
//   the lease's `<server id>/<member id>`), changed only by the scripts that
//   claim, release and renew nickname leases, so it always agrees with
//   them; each change is also an entry of `chat:presence:events`, a capped
//   stream with ids `<n>-0` from the counter `chat:presence:seq`, which
//   every server follows into its local roster (roster.ts). `chat:present:
//   <server id>` is the set of a server's nickname keys.
// - Servers: `chat:servers`, the set of server ids, and `chat:alive:<server
//   id>`, each one's heartbeat with a lease. Any server that finds another's
//   heartbeat gone takes that server's people off the roster (leave `lost`):
//   a server that dies leaves nobody behind (servers.ts).
// - `chat:direct:<server id>`, not a key but a pub/sub channel: direct
//   messages for that server's members (direct_channel.ts).
//
// Every change that must be atomic is one script, run with EVAL. The
// presence scripts name some keys they compute (a server's set and
// heartbeat), which one plain Redis allows (Redis Cluster would not).

import { integerReply, type RedisClient } from "./client.ts";

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

/** The roster: nickname key → "<owner> <direct 0|1> <nickname>". */
export const PRESENCE_KEY = "chat:presence";
/** The stream of roster changes (ids `<n>-0`), and its counter. */
export const PRESENCE_EVENTS_KEY = "chat:presence:events";
export const PRESENCE_SEQ_KEY = "chat:presence:seq";
/** The prefix of a server's set of nickname keys in the roster. */
export const PRESENT_PREFIX = "chat:present:";
/** The set of server ids, and the prefix of each one's heartbeat key. */
export const SERVERS_KEY = "chat:servers";
export const ALIVE_PREFIX = "chat:alive:";
/** The prefix of a server's pub/sub channel for direct messages. */
export const DIRECT_PREFIX = "chat:direct:";
/**
 * Roster changes the stream keeps (MAXLEN ~): about 50 s of 200 logins and
 * logouts a second. A server further behind than that reads the roster
 * whole again (roster.ts).
 */
export const PRESENCE_EVENTS_KEPT = 10_000;

/** A roster entry as the hash holds it: "<owner> <direct 0|1> <nickname>". */
export function rosterValue(owner: string, direct: boolean, nickname: string): string {
  return `${owner} ${direct ? 1 : 0} ${nickname}`;
}

/** A roster entry read back: undefined when it is not one of ours (written by hand?). */
export function parseRosterValue(
  value: unknown,
): { server: string; member: number; direct: boolean; nickname: string } | undefined {
  if (typeof value !== "string") return undefined;
  const match = /^([^ /]*)\/(\d+) ([01]) (.+)$/s.exec(value);
  if (match === null) return undefined;
  const member = integerReply(match[2]);
  if (member === undefined) return undefined;
  return { server: match[1], member, direct: match[3] === "1", nickname: match[4] };
}

/**
 * Lua shared by the presence scripts: `join` and `leave` change the roster,
 * a server's set and the event stream together; `reap` takes the people of
 * every server whose heartbeat is gone off the roster.
 */
const PRESENCE_LUA = `
local function owner_of(value) return string.match(value, '^(%S+)') end
local function server_of(owner) return string.match(owner, '^([^/]*)/') or '' end
local function event(fields)
  local n = redis.call('INCR', '${PRESENCE_SEQ_KEY}')
  local top = redis.call('XREVRANGE', '${PRESENCE_EVENTS_KEY}', '+', '-', 'COUNT', 1)
  if top[1] then
    local last = tonumber(string.match(top[1][1], '^(%d+)'))
    if last >= n then
      n = last + 1
      redis.call('SET', '${PRESENCE_SEQ_KEY}', n)
    end
  end
  redis.call('XADD', '${PRESENCE_EVENTS_KEY}', 'MAXLEN', '~', ${PRESENCE_EVENTS_KEPT}, n .. '-0', unpack(fields))
  return n
end
local function leave(key, value, reason, time)
  local owner = owner_of(value)
  redis.call('HDEL', '${PRESENCE_KEY}', key)
  redis.call('SREM', '${PRESENT_PREFIX}' .. server_of(owner), key)
  return event({'kind', 'leave', 'key', key, 'owner', owner, 'reason', reason, 'time', time})
end
local function join(key, value, time)
  local old = redis.call('HGET', '${PRESENCE_KEY}', key)
  if old == value then return 0 end
  if old then leave(key, old, 'lost', time) end
  redis.call('HSET', '${PRESENCE_KEY}', key, value)
  redis.call('SADD', '${PRESENT_PREFIX}' .. server_of(owner_of(value)), key)
  return event({'kind', 'join', 'key', key, 'value', value, 'time', time})
end
local function reap(time)
  local reaped = 0
  for _, server in ipairs(redis.call('SMEMBERS', '${SERVERS_KEY}')) do
    if redis.call('EXISTS', '${ALIVE_PREFIX}' .. server) == 0 then
      for _, key in ipairs(redis.call('SMEMBERS', '${PRESENT_PREFIX}' .. server)) do
        local value = redis.call('HGET', '${PRESENCE_KEY}', key)
        if value and server_of(owner_of(value)) == server then
          leave(key, value, 'lost', time)
          reaped = reaped + 1
        end
      end
      redis.call('DEL', '${PRESENT_PREFIX}' .. server)
      redis.call('SREM', '${SERVERS_KEY}', server)
    end
  end
  return reaped
end
`;

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
 * Claims a nickname: its key set to `owner` with NX and a lease, and its
 * roster entry `value` added (a join). Returns [the newest seq (the replay
 * must reach it), the join's presence event (the roster must reach it)],
 * or -1 when the nickname is taken.
 *
 * KEYS: nick, seq. ARGV: owner, lease ms, nickname key, roster value, time.
 */
export const CLAIM_SCRIPT = PRESENCE_LUA + `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local joined = join(ARGV[3], ARGV[4], ARGV[5])
  return {tonumber(redis.call('GET', KEYS[2]) or '0'), joined}
end
return -1
`;

/**
 * Deletes a nickname's key if `owner` still holds it, and takes its roster
 * entry off if it is `owner`'s (a leave for `reason`).
 *
 * KEYS: nick. ARGV: owner, nickname key, reason, time.
 */
export const RELEASE_SCRIPT = PRESENCE_LUA + `
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then released = redis.call('DEL', KEYS[1]) end
local value = redis.call('HGET', '${PRESENCE_KEY}', ARGV[2])
if value and owner_of(value) == ARGV[1] then leave(ARGV[2], value, ARGV[3], ARGV[4]) end
return released
`;

/**
 * Renews the leases of nicknames this server holds, taking back any that
 * expired meanwhile (Redis was unreachable for longer than the lease), and
 * puts their roster entries back where they are missing (this server was
 * taken for dead meanwhile). Returns the 1-based positions of those another
 * server holds now.
 *
 * KEYS: nicks. ARGV: lease ms, time, then per key: owner, nickname key, roster value.
 */
export const RENEW_SCRIPT = PRESENCE_LUA + `
local lost = {}
for i, key in ipairs(KEYS) do
  local at = 3 + (i - 1) * 3
  local owner = ARGV[at]
  local now = redis.call('GET', key)
  if now == owner then
    redis.call('PEXPIRE', key, ARGV[1])
  elseif not now then
    redis.call('SET', key, owner, 'PX', ARGV[1])
  else
    table.insert(lost, i)
  end
  if now == owner or not now then join(ARGV[at + 1], ARGV[at + 2], ARGV[2]) end
end
return lost
`;

/**
 * A server's heartbeat: sets its key with a lease and lists it among the
 * servers; then takes the people of every server whose heartbeat is gone
 * off the roster. With a lease of 0 the server says goodbye instead: its
 * heartbeat is deleted, and its people (if any are left) go with the rest.
 * Returns how many people left.
 *
 * ARGV: server id, heartbeat lease ms (0: goodbye), time.
 */
export const BEAT_SCRIPT = PRESENCE_LUA + `
if ARGV[2] == '0' then
  redis.call('DEL', '${ALIVE_PREFIX}' .. ARGV[1])
else
  redis.call('SET', '${ALIVE_PREFIX}' .. ARGV[1], '1', 'PX', ARGV[2])
  redis.call('SADD', '${SERVERS_KEY}', ARGV[1])
end
return reap(ARGV[3])
`;

/** The roster and its newest event, read together: [n, [key, value, key, value, …]]. */
export const ROSTER_SCRIPT = `
return {tonumber(redis.call('GET', '${PRESENCE_SEQ_KEY}') or '0'), redis.call('HGETALL', '${PRESENCE_KEY}')}
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
