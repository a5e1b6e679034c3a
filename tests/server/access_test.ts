// Operators and invitations (lib/server/access.ts) and their flags: the
// list files' format, `--op` normalised, a bad file at start stopping the
// server with its line, and SIGHUP re-reading the files of a real server
// process (a damaged file keeping its old list), while a server without
// such files still ends on SIGHUP as before.

import assert from "node:assert/strict";
import { join } from "node:path";
import { ChatProcess, runChat } from "../../bench/chat_process.ts";
import { eventually, tempDir } from "./_helpers.ts";
import { FatalError, UsageError } from "../../lib/errors.ts";
import { AccessLists, parseIdentityList } from "../../lib/server/access.ts";
import { parseServerArgs } from "../../lib/server/cli.ts";
import { REGISTRY_FILE } from "../../lib/server/file_registry.ts";

const ALICE = "A1:".repeat(31) + "A1";
const BOB = "B0:".repeat(31) + "B0";
const CAROL = "C4:".repeat(31) + "C4";

Deno.test("a list file: one fingerprint a line as people paste them, # comments, blank lines", () => {
  const text = [
    "# the moderators",
    "",
    `${ALICE}`,
    `${BOB.toLowerCase()}   # bob's laptop`,
    `  ${CAROL.replaceAll(":", "")}  `,
    `sha256 Fingerprint=${ALICE}`,
    "\t# indented comment",
  ].join("\n");
  assert.deepEqual(parseIdentityList(text), new Set([ALICE, BOB, CAROL]));
  assert.deepEqual(parseIdentityList(""), new Set());
  assert.match(
    parseIdentityList(`${ALICE}\n\nalice\n`) as string,
    /^line 3: "alice" is not a SHA-256 fingerprint/,
  );
  assert.match(parseIdentityList(`${ALICE} ${BOB}\n`) as string, /^line 1: /, "one a line");
  assert.match(parseIdentityList(ALICE.slice(3)) as string, /^line 1: /, "too short");
});

Deno.test("operators from --op and --ops; without --invited everyone is invited", async () => {
  await using tmp = await tempDir("chat-access-");
  const dir = tmp.path;
  const opsFile = join(dir, "ops");
  await Deno.writeTextFile(opsFile, `${BOB}\n`);
  const access = await AccessLists.load({ ops: [ALICE], opsFile });
  assert.ok(access.isOperator(ALICE) && access.isOperator(BOB));
  assert.ok(!access.isOperator(CAROL) && !access.isOperator(undefined));
  assert.equal(access.operatorCount, 2);
  assert.equal(access.inviteOnly, false);
  assert.ok(access.isInvited(CAROL) && access.isInvited(undefined));
});

Deno.test("with --invited only the invited and the operators are; a reload takes edits and keeps a bad file's old list", async () => {
  await using tmp = await tempDir("chat-access-");
  const dir = tmp.path;
  const invitedFile = join(dir, "invited");
  await Deno.writeTextFile(invitedFile, `# guests\n${BOB}\n`);
  const access = await AccessLists.load({ ops: [ALICE], invitedFile });
  assert.ok(access.inviteOnly);
  assert.ok(access.isInvited(BOB) && access.isInvited(ALICE), "invited, and an operator");
  assert.ok(!access.isInvited(CAROL) && !access.isInvited(undefined));

  await Deno.writeTextFile(invitedFile, `${CAROL}\n`);
  assert.deepEqual(await access.reload(), { ops: 1, invited: 1, problems: [] });
  assert.ok(access.isInvited(CAROL) && !access.isInvited(BOB));

  await Deno.writeTextFile(invitedFile, `${BOB}\nnot a fingerprint\n`);
  const bad = await access.reload();
  assert.equal(bad.problems.length, 1);
  assert.match(
    bad.problems[0],
    /^--invited .*invited line 2: .*; the invitations stay as they were$/,
  );
  assert.ok(access.isInvited(CAROL) && !access.isInvited(BOB), "the old list, whole");

  await Deno.remove(invitedFile);
  const gone = await access.reload();
  assert.match(gone.problems[0], /^cannot read --invited .*: no such file or directory; /);
  assert.ok(access.isInvited(CAROL));
});

Deno.test("a bad list file at start is a fatal error naming the file and line", async () => {
  await using tmp = await tempDir("chat-access-");
  const dir = tmp.path;
  const file = join(dir, "ops");
  await Deno.writeTextFile(file, `${ALICE}\n# ok so far\nAB:CD\n`);
  await assert.rejects(
    AccessLists.load({ ops: [], opsFile: file }),
    (error: Error) =>
      error instanceof FatalError && /^--ops \S+ops line 3: "AB:CD"/.test(error.message),
  );
  await assert.rejects(AccessLists.load({ ops: [], invitedFile: join(dir, "none") }), FatalError);
});

Deno.test("--op takes either case, with or without colons, more than once; anything else is a usage error", () => {
  const config = parseServerArgs(["--op", ALICE.toLowerCase(), "--op", BOB.replaceAll(":", "")]);
  assert.notEqual(config, "help");
  if (config === "help") return;
  assert.deepEqual(config.access, {
    ops: [ALICE, BOB],
    opsFile: undefined,
    invitedFile: undefined,
  });
  for (
    const bad of [["--op", "alice"], ["--op", ALICE + ":00"], ["--ops", ""], ["--invited", " "]]
  ) {
    assert.throws(() => parseServerArgs(bad), UsageError, bad.join(" "));
  }
});

Deno.test("chat server: a bad --invited file stops it with the line; so does a damaged registry.log", async () => {
  await using tmp = await tempDir("chat-access-");
  const dir = tmp.path;
  const invited = join(dir, "invited");
  await Deno.writeTextFile(invited, `${ALICE}\nbob\n`);
  const bad = await runChat(["server", "--port", "0", "--invited", invited], dir);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(
    bad.stderr,
    /^chat: --invited \S+invited line 2: "bob" is not a SHA-256 fingerprint/,
  );
  assert.equal(bad.stderr.split("\n").length, 2, "one line");

  const data = join(dir, "data");
  await Deno.mkdir(data);
  await Deno.writeTextFile(join(data, REGISTRY_FILE), '{"op":"unban","target":"x"}\nnope\n{}\n');
  const damaged = await runChat(["server", "--port", "0", "--data-dir", data], dir);
  assert.equal(damaged.code, 1, damaged.stderr);
  assert.match(
    damaged.stderr,
    /^chat: cannot load the registry: \S+registry\.log line 2 is damaged/,
  );
});

Deno.test("SIGHUP re-reads --ops and --invited; a damaged file keeps the old list and says why", async () => {
  await using tmp = await tempDir("chat-access-");
  const dir = tmp.path;
  const [ops, invited] = [join(dir, "ops"), join(dir, "invited")];
  await Deno.writeTextFile(ops, `${BOB}\n`);
  await Deno.writeTextFile(invited, `${CAROL}\n`);
  const server = new ChatProcess(
    [
      "server",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--op",
      ALICE,
      "--ops",
      ops,
      "--invited",
      invited,
    ],
    dir,
  );
  try {
    await server.listening();
    await Deno.writeTextFile(invited, `${CAROL}\n${BOB}\n# more later\n`);
    server.child.kill("SIGHUP");
    assert.ok(
      await eventually(() => /reloaded ops=2 invited=2/.test(server.stderr)),
      server.stderr,
    );
    await Deno.writeTextFile(ops, `${BOB}\n${CAROL}\n`);
    await Deno.writeTextFile(invited, "typo\n");
    server.child.kill("SIGHUP");
    assert.ok(
      await eventually(() => /reloaded ops=3 invited=2\n/.test(server.stderr)),
      server.stderr,
    );
    assert.match(
      server.stderr,
      /reload failed reason=".*invited line 1: .*the invitations stay as they were"/,
    );
    assert.equal(server.exited, undefined, "still serving");
    assert.equal(await server.stop(), 0);
  } finally {
    await server.kill("SIGKILL");
  }
});

Deno.test("without --ops or --invited, SIGHUP ends the server as it always did", async () => {
  await using tmp = await tempDir("chat-access-");
  const dir = tmp.path;
  const server = new ChatProcess(["server", "--host", "127.0.0.1", "--port", "0"], dir);
  try {
    await server.listening();
    const status = await server.kill("SIGHUP");
    assert.equal(status.signal, "SIGHUP");
  } finally {
    await server.kill("SIGKILL");
  }
});
