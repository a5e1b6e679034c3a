// Which servers the client talks to: --ca for a self-signed certificate
// (CA:TRUE as `openssl req -x509` makes it, and CA:FALSE), the certificate
// given with --ca pinned whatever name is dialed (but not one merely signed
// by a CA of the file), refusal without a terminal before anything is sent,
// --insecure with one warning, pins in known_hosts, IPv6 literals.

import assert from "node:assert/strict";
import { KnownHosts } from "../../lib/client/known_hosts.ts";
import {
  clientEnv,
  eventually,
  FakeServer,
  fileCerts,
  loginFrame,
  makeSeedCert,
  makeSignedCert,
  PipeClient,
} from "./_helpers.ts";
import { missing, testNeeding } from "../_tools.ts";

/** Deno.test for the tests that use certificates made with openssl: skipped without it. */
const test = testNeeding("openssl");
// Without openssl there are no certificates, and every test that reads them is skipped.
const certs = await fileCerts();

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "chat-client-trust-" });
}

/** Runs a client that logs in, says one line (acked), and leaves; returns it after exit. */
async function chatOnce(server: FakeServer, args: string[], config: string, host = "127.0.0.1") {
  const client = new PipeClient(
    [
      "--addr",
      `${host.includes(":") ? `[${host}]` : host}:${server.port}`,
      "--nick",
      "bob",
      ...args,
    ],
    clientEnv(config),
  );
  client.type("hi");
  client.end();
  const conn = await server.accept();
  assert.deepEqual(await conn.next(), loginFrame("bob"));
  await conn.send({ status: "ok" });
  const hi = await conn.next();
  assert.equal(hi.message, "hi");
  await conn.send({ status: "ok", id: hi.id }); // Acked, as our server does: no drain to wait for.
  assert.equal(await client.code, 0, client.stderr);
  return client;
}

/** Runs a client that must refuse `server`'s certificate: exit 1, and nothing sent, not even the login. */
async function refusedBy(server: FakeServer, ca: string, config: string): Promise<PipeClient> {
  const client = new PipeClient(
    ["--addr", `127.0.0.1:${server.port}`, "--nick", "bob", "--ca", ca],
    clientEnv(config),
  );
  client.type("secret");
  const conn = await server.accept();
  assert.equal(await client.code, 1);
  await conn.ended;
  assert.deepEqual(conn.received, [], "nothing sent, not even the login");
  return client;
}

test("--ca trusts a self-signed CA:TRUE certificate made by openssl req -x509", async () => {
  await using server = new FakeServer(certs.caTrue);
  const config = await tempDir();
  await chatOnce(server, ["--ca", certs.caTrue.certFile], config);
  await Deno.remove(config, { recursive: true });
});

test("--ca trusts a self-signed CA:FALSE certificate", async () => {
  await using server = new FakeServer(certs.caFalse);
  const config = await tempDir();
  await chatOnce(server, ["--ca", certs.caFalse.certFile], config);
  await Deno.remove(config, { recursive: true });
});

test("the certificate given with --ca is pinned: trusted by address although its name differs, said once", async () => {
  // As the seed's instructions make it: RSA 2048, CA:TRUE, no SAN, CN "chat server".
  const seed = await makeSeedCert(certs.dir);
  await using server = new FakeServer(seed);
  const config = await tempDir();
  const client = new PipeClient(
    ["--addr", `127.0.0.1:${server.port}`, "--nick", "bob", "--ca", seed.certFile],
    clientEnv(config),
  );
  const conn = await server.accept();
  assert.deepEqual(await conn.next(), loginFrame("bob"));
  await conn.send({ status: "ok" });
  assert(await eventually(() => client.stderr.includes("logged in")), client.stderr);
  await conn.drop();
  const again = await server.accept();
  assert.deepEqual(await again.next(), loginFrame("bob"));
  await again.send({ status: "ok" });
  client.type("hi");
  client.end();
  const hi = await again.next();
  await again.send({ status: "ok", id: hi.id });
  assert.equal(await client.code, 0, client.stderr);
  assert.match(
    client.stderr,
    /^chat: the certificate of 127\.0\.0\.1:\d+ is for another name \(CN chat server\); trusted because it is pinned with --ca: it is the very certificate in that file$/m,
  );
  assert.equal(
    client.stderr.match(/for another name/g)?.length,
    1,
    "said once, not per connection",
  );
  await Deno.remove(config, { recursive: true });
});

test("a certificate that merely chains to a CA given with --ca still needs the right name", async () => {
  const leaf = await makeSignedCert(certs.dir, certs.caTrue, "elsewhere.example");
  await using server = new FakeServer(leaf);
  const config = await tempDir();
  const client = await refusedBy(server, certs.caTrue.certFile, config);
  assert.match(client.stderr, /the certificate is for another host name/);
  assert.doesNotMatch(client.stderr, /pinned/);
  await Deno.remove(config, { recursive: true });
});

test("a certificate pinned in known_hosts is trusted by address although its name differs", async () => {
  const seed = await makeSeedCert(certs.dir);
  await using server = new FakeServer(seed);
  const config = await tempDir();
  await new KnownHosts(`${config}/chat/known_hosts`).add(
    `127.0.0.1:${server.port}`,
    seed.fingerprint,
  );
  await chatOnce(server, [], config);
  await Deno.remove(config, { recursive: true });
});

Deno.test("IPv6 addresses work as [::1]:PORT", {
  ignore: missing("openssl") || !Deno.networkInterfaces().some((i) => i.address === "::1"),
}, async () => {
  await using server = new FakeServer(certs.caTrue, "::1");
  const config = await tempDir();
  await chatOnce(server, ["--ca", certs.caTrue.certFile], config, "::1");
  await Deno.remove(config, { recursive: true });
});

test("an untrusted certificate without a terminal is refused and nothing is sent, not even the login", async () => {
  await using server = new FakeServer(certs.caTrue);
  const config = await tempDir();
  const client = await refusedBy(server, certs.other.certFile, config);
  assert.match(client.stderr, /--ca/);
  assert.match(client.stderr, /--insecure/);
  assert.match(client.stderr, new RegExp(certs.caTrue.fingerprint));
  assert.match(client.stderr, /nothing was sent/);
  await Deno.remove(config, { recursive: true });
});

test("--insecure skips verification and says so once, across reconnects", async () => {
  await using server = new FakeServer(certs.caTrue);
  const config = await tempDir();
  const client = new PipeClient(
    ["--addr", `127.0.0.1:${server.port}`, "--nick", "bob", "--insecure"],
    clientEnv(config),
  );
  const first = await server.accept();
  await first.next();
  await first.send({ status: "ok" });
  assert(await eventually(() => client.stderr.includes("logged in")));
  await first.drop();
  const second = await server.accept();
  assert.deepEqual(await second.next(), loginFrame("bob"));
  await second.send({ status: "ok" });
  assert(await eventually(() => client.stderr.includes("reconnected")));
  client.end();
  assert.equal(await client.code, 0);
  assert.equal(client.stderr.match(/--insecure/g)?.length, 1);
  assert.match(client.stderr, new RegExp(`not verified \\(SHA-256 ${certs.caTrue.fingerprint}\\)`));
  await Deno.remove(config, { recursive: true });
});

test("a pinned certificate that changed is refused loudly with both fingerprints", async () => {
  await using server = new FakeServer(certs.caTrue);
  const config = await tempDir();
  const hosts = new KnownHosts(`${config}/chat/known_hosts`);
  await hosts.add(`127.0.0.1:${server.port}`, certs.other.fingerprint);
  const client = await refusedBy(server, certs.caTrue.certFile, config);
  assert.match(client.stderr, /HAS CHANGED/);
  assert.match(client.stderr, new RegExp(`pinned: +SHA-256 ${certs.other.fingerprint}`));
  assert.match(client.stderr, new RegExp(`presented: SHA-256 ${certs.caTrue.fingerprint}`));
  assert.match(client.stderr, /known_hosts/);
  await Deno.remove(config, { recursive: true });
});

test("a pinned certificate that matches is trusted without --ca", async () => {
  await using server = new FakeServer(certs.caTrue);
  const config = await tempDir();
  await new KnownHosts(`${config}/chat/known_hosts`).add(
    `127.0.0.1:${server.port}`,
    certs.caTrue.fingerprint,
  );
  await chatOnce(server, [], config);
  await Deno.remove(config, { recursive: true });
});

Deno.test("known_hosts replaces a host's pin and keeps the others", async () => {
  const config = await tempDir();
  const hosts = new KnownHosts(`${config}/deep/dir/known_hosts`);
  await hosts.add("a:1", "11");
  await hosts.add("b:2", "22");
  await hosts.add("a:1", "33");
  assert.equal(await hosts.get("a:1"), "33");
  assert.equal(await hosts.get("b:2"), "22");
  assert.equal(await hosts.get("c:3"), undefined);
  await Deno.remove(config, { recursive: true });
});
