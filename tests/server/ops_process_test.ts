// Identities and operators (PROTOCOL.md §12–§13) with `chat server` as a
// real process: a registration made by a person at `openssl s_client
// -cert` survives a SIGKILL right after its `ok` (--data-dir), and is
// enforced after the restart against s_client without a certificate;
// an --invited file edited and read again on SIGHUP.

import assert from "node:assert/strict";
import { GENERATED_CERT_FILE, GENERATED_KEY_FILE } from "../../lib/server/cert.ts";
import { localIdentity } from "../../bench/in_process_server.ts";
import { ChatProcess } from "../../bench/chat_process.ts";
import { eventually, tempDir } from "./_helpers.ts";
import { attempt, type Identity, identity, login } from "./_identities.ts";
import { SClient } from "./_s_client.ts";
import { testNeeding } from "../_tools.ts";

const [OP, ALICE, BOB] = await Promise.all(["op", "alice", "bob"].map(identity));

/** A data folder holding the test certificate, so the server serves it and does not make one. */
async function dataDir(root: string): Promise<{ data: string; certPem: string; caFile: string }> {
  const { certPem, keyPem } = await localIdentity();
  const data = `${root}/data`;
  await Deno.mkdir(data);
  await Deno.writeTextFile(`${data}/${GENERATED_KEY_FILE}`, keyPem, { mode: 0o600 });
  await Deno.writeTextFile(`${data}/${GENERATED_CERT_FILE}`, certPem);
  const caFile = `${root}/ca.pem`;
  await Deno.writeTextFile(caFile, certPem);
  return { data, certPem, caFile };
}

/** `who`'s certificate and key as files, for s_client's -cert and -key. */
async function identityFiles(root: string, name: string, who: Identity): Promise<string[]> {
  await Deno.writeTextFile(`${root}/${name}.crt`, who.certPem);
  await Deno.writeTextFile(`${root}/${name}.key`, who.keyPem, { mode: 0o600 });
  return ["-cert", `${root}/${name}.crt`, "-key", `${root}/${name}.key`];
}

function server(root: string, data: string, ...extra: string[]): ChatProcess {
  return new ChatProcess(
    ["server", "--host", "127.0.0.1", "--port", "0", "--data-dir", data, ...extra],
    root,
  );
}

testNeeding("openssl")(
  "a registration made at s_client -cert survives a SIGKILL right after its ok, and binds after the restart",
  async () => {
    await using root = await tempDir("chat-ops-");
    const { data, caFile } = await dataDir(root.path);
    const aliceFiles = await identityFiles(root.path, "alice", ALICE);
    {
      await using first = server(root.path, data, "--op", OP.fingerprint);
      const port = await first.listening();
      const person = new SClient(port, caFile, aliceFiles);
      await person.type('{"command":"login","nickname":"alice","features":["identity"]}');
      assert.ok(await person.sees(/"features":\[.*"identity","ops"\]/), person.output);
      await person.type('{"command":"register"}');
      assert.ok(await person.sees(/\{"status":"ok"\}\s*$/), person.output);
      // Gone the moment the ok is on screen: nothing polite after it.
      await first.kill("SIGKILL");
      await person.kill("SIGTERM");
    }
    await using second = server(root.path, data);
    const port = await second.listening();
    const stranger = new SClient(port, caFile);
    await stranger.type('{"command":"login","nickname":"ALICE"}');
    assert.ok(await stranger.sees(/"reason":"nickname is registered"/), stranger.output);
    await stranger.type('{"command":"login","nickname":"stranger"}');
    assert.ok(await stranger.sees(/\{"status":"ok"\}/), stranger.output);
    const alice = new SClient(port, caFile, aliceFiles);
    await alice.type('{"command":"login","nickname":"alice"}');
    assert.ok(await alice.sees(/\{"status":"ok"\}/), alice.output);
    await alice.type('{"message":"still me"}');
    assert.ok(await stranger.sees(/"from":"alice","message":"still me"/), stranger.output);
    await stranger.kill("SIGTERM");
    await alice.kill("SIGTERM");
    assert.match(
      second.stderr,
      /login refused peer=\S+ nick=ALICE reason="nickname is registered"/,
    );
  },
);

Deno.test("an --invited file edited and read again on SIGHUP lets the newly invited in, and only them", async () => {
  await using root = await tempDir("chat-ops-");
  const { data, certPem } = await dataDir(root.path);
  const invited = `${root.path}/invited`;
  await Deno.writeTextFile(invited, `# tonight\n${ALICE.fingerprint}\n`);
  await using chat = server(root.path, data, "--invited", invited, "--op", OP.fingerprint);
  const target = { port: await chat.listening(), certPem };
  await (await login(target, "alice", ALICE)).close();
  await (await login(target, "op", OP)).close();
  for (const who of [BOB, undefined]) {
    const { client, answer } = await attempt(target, "bob", who);
    assert.deepEqual(answer, { status: "error", reason: "not invited" });
    await client.close();
  }
  await Deno.writeTextFile(invited, `${ALICE.fingerprint}\n${BOB.fingerprint}  # bob too\n`);
  chat.child.kill("SIGHUP");
  assert.ok(
    await eventually(() => /reloaded ops=1 invited=2/.test(chat.stderr), 5000),
    chat.stderr,
  );
  await (await login(target, "bob", BOB)).close();
  const { client, answer } = await attempt(target, "anon");
  assert.deepEqual(answer, { status: "error", reason: "not invited" });
  await client.close();
  assert.match(chat.stderr, /login refused .*nick=bob identity=\S+ reason="not invited"/);
});
