// The outside world's server: `openssl s_server` with an `openssl req -x509`
// certificate (CA:TRUE), a person typing the server's side. The client must
// work with no `seq` and no acks, trusting the certificate through --ca;
// and with the certificate exactly as the protocol's original instructions
// make it (RSA 2048, CA:TRUE, no subjectAltName, a common name that is not
// the address dialed) pinned by --ca, in a pipe and on a terminal.

import assert from "node:assert/strict";
import {
  clientEnv,
  ClientProcess,
  clientShellCommand,
  eventually,
  lines,
  loginLine,
  makeCerts,
  makeSeedCert,
  OpensslServer,
  Tmux,
} from "./_helpers.ts";
import { missing, testNeeding } from "../_tools.ts";

/** Deno.test for the tests that use openssl (certificates and s_server): skipped without it. */
const test = testNeeding("openssl");
/** The same for the ones that also drive the client in tmux. */
const testTty = testNeeding("openssl", "tmux");
// Without openssl there are no certificates, and every test that reads them is skipped.
const certs = missing("openssl") ? undefined! : await makeCerts();
const seed = missing("openssl") ? undefined! : await makeSeedCert(certs.dir);
globalThis.addEventListener(
  "unload",
  () => certs && Deno.removeSync(certs.dir, { recursive: true }),
);

/** The notice for the seed's certificate, pinned by --ca although its name is not the address. */
const PINNED =
  /^the certificate of 127\.0\.0\.1:\d+ is for another name \(CN chat server\); trusted because it is pinned with --ca: it is the very certificate in that file$/;

/** A display line with its own (today's) time left out of the comparison. */
function hhmm(line: string): string {
  return line.includes("<bob>") ? line.replace(/^\d\d:\d\d /, "HH:MM ") : line;
}

test("works with openssl s_server and a person typing frames, trusting it through --ca", async () => {
  await using server = await OpensslServer.start(certs.caTrue);
  const config = await Deno.makeTempDir({ prefix: "chat-client-openssl-" });
  await using client = new ClientProcess(
    ["--addr", `localhost:${server.port}`, "--nick", "bob", "--ca", certs.caTrue.certFile],
    clientEnv(config),
  );
  await client.type("hello from bob");
  assert(
    await eventually(() => server.stdout.includes(loginLine("bob")), 15_000),
    server.stdout + client.stderr,
  );
  await server.type('{"status":"ok"}');
  await server.type('{"from":"alice","message":"hi bob","time":"2017-01-12T20:00:00+01:00"}');
  assert(
    await eventually(() => server.stdout.includes('"message":"hello from bob"')),
    server.stdout,
  );
  assert(await eventually(() => client.stdout.includes("<alice> hi bob")), client.stdout);
  const { code } = await client.end();
  assert.equal(code, 0, client.stderr);
  assert.match(client.stdout, /^19:00 <alice> hi bob$/m);
  assert.match(client.stdout, /^\d\d:\d\d <bob> hello from bob$/m);
  // s_server reports a clean TLS shutdown (the client's close_notify) as DONE.
  assert(await eventually(() => server.stdout.includes("DONE"), 5000), server.stdout);
  await Deno.remove(config, { recursive: true });
});

test("pipe: s_server with the seed's own certificate, dialed by address with --ca: pinned, chats, exits 0 within 2 s", async () => {
  await using server = await OpensslServer.start(seed);
  const config = await Deno.makeTempDir({ prefix: "chat-client-openssl-" });
  await using client = new ClientProcess(
    ["--addr", `127.0.0.1:${server.port}`, "--nick", "bob", "--ca", seed.certFile],
    clientEnv(config),
  );
  assert(
    await eventually(() => server.stdout.includes(loginLine("bob")), 15_000),
    server.stdout + client.stderr,
  );
  await server.type('{"status":"ok"}');
  // As a person types it: no seq, a colon offset, fractional seconds; then a Z time.
  await server.type('{"from":"alice","message":"hi bob","time":"2017-01-12T20:00:00.5+01:00"}');
  await server.type('{"from":"carol","message":"and me","time":"2017-01-12T19:01:00Z"}');
  assert(await eventually(() => client.stdout.includes("<carol> and me")), client.stdout);
  await client.type("hello from bob");
  assert(
    await eventually(() => server.stdout.includes('"message":"hello from bob"')),
    server.stdout,
  );
  const { code, ms } = await client.end();
  assert.equal(code, 0, client.stderr);
  assert(ms <= 2000, `exit ${Math.round(ms)} ms after end of input (a server that never acks)`);
  // The day changes (to today) before our own line: its separator is left out here.
  assert.deepEqual(
    lines(client.stdout).filter((line) => !line.startsWith("---")).map(hhmm),
    [
      "19:00 <alice> hi bob",
      "19:01 <carol> and me",
      "HH:MM <bob> hello from bob",
    ].map(hhmm),
  );
  assert.match(client.stdout, /^--- Thursday 2017-01-12 ---\n19:00 <alice> hi bob\n/);
  const stderr = lines(client.stderr);
  assert.equal(stderr.length, 2, client.stderr);
  assert.match(stderr[0], new RegExp(`^chat: ${PINNED.source.slice(1)}`));
  assert.equal(stderr[1], `chat: logged in to 127.0.0.1:${server.port} as bob`);
  assert(await eventually(() => server.stdout.includes("DONE"), 5000), "close_notify");
  await Deno.remove(config, { recursive: true });
});

testTty(
  "terminal: s_server with the seed's own certificate, dialed by address with --ca: pinned, chats, leaves at once",
  async () => {
    await using server = await OpensslServer.start(seed);
    const config = await Deno.makeTempDir({ prefix: "chat-client-openssl-" });
    await using tmux = new Tmux();
    const env = { ...clientEnv(config), TZ: "UTC", TERM: "xterm-256color" };
    delete (env as Record<string, string>).NO_COLOR;
    // Wide enough that no notice wraps.
    await tmux.start(
      clientShellCommand(
        ["--addr", `127.0.0.1:${server.port}`, "--nick", "bob", "--ca", seed.certFile],
        env,
      ),
      { width: 200, height: 30 },
    );
    assert(
      await eventually(
        () => server.stdout.includes(loginLine("bob")),
        15_000,
      ),
      server.stdout,
    );
    await server.type('{"status":"ok"}');
    await server.type('{"from":"alice","message":"hi bob","time":"2017-01-12T20:00:00+01:00"}');
    await tmux.waitFor(/19:00 <alice> hi bob/);
    await tmux.type("hello from bob");
    await tmux.keys("Enter");
    assert(
      await eventually(() => server.stdout.includes('"message":"hello from bob"')),
      server.stdout,
    );
    await tmux.waitFor(/<bob> hello from bob/);
    const { code, ms, screen } = await tmux.leave();
    assert.equal(code, 0, screen);
    assert(ms <= 2000, `exit ${ms} ms after Ctrl-D`);
    const rows = screen.split("\n").map((row) => row.trimEnd());
    const notices = rows.filter((row) => row.startsWith("*** "));
    assert.equal(notices.length, 2, screen);
    assert.match(notices[0].slice(4), PINNED);
    assert.equal(notices[1], `*** logged in to 127.0.0.1:${server.port} as bob`);
    assert(await eventually(() => server.stdout.includes("DONE"), 5000), "close_notify");
    await Deno.remove(config, { recursive: true });
  },
);
