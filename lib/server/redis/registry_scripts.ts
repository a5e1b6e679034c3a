// The registry in Redis (redis/registry.ts): its keys, and the Lua scripts
// that change them. Each change is one script, so checking, writing, and
// telling the other servers are one atomic step:
// - `chat:registered`, a hash: nickname key → its register record;
// - `chat:bans`, a hash: target → its ban record;
// - `chat:registry:version`, counting the changes;
// - the channel `chat:registry`, on which each change is published as
//   "VERSION RECORD" (records as registry_record.ts writes them, without
//   the newline). A server that sees a version out of turn has missed one,
//   and reads everything again (LOAD_SCRIPT).

/** The hash of registrations. */
export const REGISTERED_KEY = "chat:registered";
/** The hash of bans. */
export const BANS_KEY = "chat:bans";
/** The change counter. */
export const REGISTRY_VERSION_KEY = "chat:registry:version";
/** The channel every change is published on. */
export const REGISTRY_CHANNEL = "chat:registry";

/** The code a script answers when the change is refused. */
export const REFUSED = -1;
/** The code a script answers when there is nothing to change. */
export const UNCHANGED = 0;

/**
 * Registers a nickname: refused when another identity holds it, unchanged
 * when the record is the same. Returns the new version, REFUSED or UNCHANGED.
 *
 * KEYS: registered, version. ARGV: nickname key, identity, record, channel.
 */
export const REGISTER_SCRIPT = `
local now = redis.call('HGET', KEYS[1], ARGV[1])
if now then
  if cjson.decode(now).identity ~= ARGV[2] then return ${REFUSED} end
  if now == ARGV[3] then return ${UNCHANGED} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local version = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[4], version .. ' ' .. ARGV[3])
return version
`;

/**
 * Frees a nickname its identity holds; REFUSED when that identity does not
 * hold it. Returns the new version or REFUSED.
 *
 * KEYS: registered, version. ARGV: nickname key, identity, record, channel.
 */
export const UNREGISTER_SCRIPT = `
local now = redis.call('HGET', KEYS[1], ARGV[1])
if not now or cjson.decode(now).identity ~= ARGV[2] then return ${REFUSED} end
redis.call('HDEL', KEYS[1], ARGV[1])
local version = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[4], version .. ' ' .. ARGV[3])
return version
`;

/**
 * Sets a ban (ARGV[2] is its record) or lifts one (ARGV[2] is empty; then
 * UNCHANGED when there was none). Returns the new version or UNCHANGED.
 *
 * KEYS: bans, version. ARGV: target, ban record or "", the change's record, channel.
 */
export const BAN_SCRIPT = `
if ARGV[2] == '' then
  if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return ${UNCHANGED} end
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
local version = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[4], version .. ' ' .. ARGV[3])
return version
`;

/**
 * Everything at once: { version, registered (field, value, …), bans (field, value, …) }.
 *
 * KEYS: registered, bans, version.
 */
export const LOAD_SCRIPT = `
return {
  tonumber(redis.call('GET', KEYS[3]) or '0'),
  redis.call('HGETALL', KEYS[1]),
  redis.call('HGETALL', KEYS[2]),
}
`;
