// The seed's own test: a person types at `openssl s_client` connected to
// our server. Also the hard way to leave: an s_client killed with SIGKILL.

import assert from "node:assert/strict";
import { eventually, startServer, TestClient, type TestServer } from "./_helpers.ts";
import { testNeeding } from "../_tools.ts";
import { withDeadline } from "../../lib/deadline.ts";
import { makeCerts } from "../client/_helpers.ts";
import { SClient } from "./_s_client.ts";

/** Deno.test for the tests that talk to the server through openssl s_client: skipped without it. */
const test = testNeeding("openssl");

/** Runs `test` with the server's certificate in a file for s_client's -CAfile, removed after. */
async function withCaFile(
  server: TestServer,
  test: (caFile: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const caFile = `${dir}/cert.pem`;
    await Deno.writeTextFile(caFile, server.certPem);
    await test(caFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

test("a person at openssl s_client can log in, chat, and see the history", async () => {
  await using server = await startServer();
  await withCaFile(server, async (caFile) => {
    await using alice = await TestClient.login(server, "alice");
    await alice.send({ message: "welcome, whoever comes next" });

    const person = new SClient(server.port, caFile);
    await person.type('{"message":"can I talk yet?"}');
    assert.ok(await person.sees(/"reason":"login required"/), person.output);
    await person.type("");
    await person.type("this is not json");
    assert.ok(await person.sees(/"reason":"malformed JSON"/), person.output);
    await person.type('{"command":"login","nickname":"alice"}');
    assert.ok(await person.sees(/"reason":"nickname already in use"/), person.output);
    await person.type('{"command":"login","nickname":"typist"}');
    assert.ok(await person.sees(/\{"status":"ok"\}/), person.output);
    assert.ok(
      await person.sees(/"from":"alice","message":"welcome, whoever comes next"/),
      person.output,
    );

    await person.type('{"message":"hello from a terminal"}');
    const relayed = await alice.next();
    assert.equal(relayed.from, "typist");
    assert.equal(relayed.message, "hello from a terminal");

    await alice.send({ message: "hi typist" });
    assert.ok(await person.sees(/"from":"alice","message":"hi typist"/), person.output);
    await person.kill("SIGTERM");
  });
});

test("an abrupt disconnect (s_client killed with SIGKILL) frees the nickname", async () => {
  await using server = await startServer();
  await withCaFile(server, async (caFile) => {
    const person = new SClient(server.port, caFile);
    await person.type('{"command":"login","nickname":"ghost"}');
    assert.ok(await person.sees(/\{"status":"ok"\}/), person.output);
    await person.kill("SIGKILL");
    assert.ok(
      await eventually(() =>
        server.logs.some((l) => l.startsWith("disconnect") && l.includes("nick=ghost"))
      ),
      server.logs.join("\n"),
    );
    await using again = await TestClient.login(server, "ghost");
    void again;
  });
});

test("a TLS 1.2 renegotiation is refused: that connection ends, the server goes on", async () => {
  await using server = await startServer();
  await withCaFile(server, async (caFile) => {
    // Interactive s_client (no -quiet): a line "R" asks for a renegotiation.
    const child = new Deno.Command("openssl", {
      args: ["s_client", "-tls1_2", "-connect", `127.0.0.1:${server.port}`, "-CAfile", caFile],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode('{"command":"login","nickname":"renegade"}\n'));
    assert.ok(await eventually(() => server.logs.some((l) => l.includes("nick=renegade"))));
    await writer.write(new TextEncoder().encode("R\n"));
    const ended = await withDeadline(child.output(), 10_000);
    if (ended === undefined) child.kill("SIGKILL");
    assert.ok(ended, "s_client still connected 10 s after asking to renegotiate");
    const { stdout, stderr } = ended;
    await writer.close().catch(() => {});
    const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.match(output, /RENEGOTIATING/, output);
    assert.match(output, /no renegotiation/, output);
    assert.ok(
      await eventually(() =>
        server.logs.some((l) => l.startsWith("disconnect") && l.includes("nick=renegade"))
      ),
      server.logs.join("\n"),
    );
    await using alice = await TestClient.login(server, "alice");
    await using bob = await TestClient.login(server, "renegade");
    await bob.send({ message: "the name is free again" });
    assert.equal((await alice.next()).message, "the name is free again");
  });
});

test("s_client with -cert logs in as that identity; without, as none, and both chat", async () => {
  await using server = await startServer();
  await withCaFile(server, async (caFile) => {
    // Made the way a person would: openssl's defaults (RSA, CA:TRUE).
    const certs = await makeCerts();
    const mine = {
      args: ["-cert", certs.caTrue.certFile, "-key", certs.caTrue.keyFile],
      fingerprint: certs.caTrue.fingerprint,
    };
    assert.match(mine.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const anonymous = new SClient(server.port, caFile);
    const known = new SClient(server.port, caFile, mine.args);
    await anonymous.type('{"command":"login","nickname":"anon"}');
    await known.type('{"command":"login","nickname":"known"}');
    assert.ok(await anonymous.sees(/\{"status":"ok"\}/), anonymous.output);
    assert.ok(await known.sees(/\{"status":"ok"\}/), known.output);
    await known.type('{"message":"signed, me"}');
    assert.ok(await anonymous.sees(/"from":"known","message":"signed, me"/), anonymous.output);
    await anonymous.type('{"message":"who knows"}');
    assert.ok(await known.sees(/"from":"anon","message":"who knows"/), known.output);

    const logins = server.logs.filter((line) => line.startsWith("login "));
    const knownLine = logins.find((line) => line.includes("nick=known"));
    const anonLine = logins.find((line) => line.includes("nick=anon"));
    assert.ok(knownLine?.includes(` identity=${mine.fingerprint}`), logins.join("\n"));
    assert.ok(anonLine && !anonLine.includes("identity="), logins.join("\n"));
    await anonymous.kill("SIGTERM");
    await known.kill("SIGTERM");
    await certs.remove();
  });
});
