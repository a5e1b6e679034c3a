// The outside world's server: `openssl s_server` with an `openssl req -x509`
// certificate (CA:TRUE), a person typing the server's side. The client must
// work with no `seq` and no acks, trusting the certificate through --ca.

import assert from "node:assert/strict";
import { eventually, makeCerts, ROOT } from "./_helpers.ts";
import { missing, testNeeding } from "../_tools.ts";

/** Deno.test for the tests that use certificates made with openssl: skipped without it. */
const test = testNeeding("openssl");
// Without openssl there are no certificates, and every test that reads them is skipped.
const certs = missing("openssl") ? undefined! : await makeCerts();
globalThis.addEventListener(
  "unload",
  () => certs && Deno.removeSync(certs.dir, { recursive: true }),
);

/** Collects a child's output stream as text. */
function collect(stream: ReadableStream<Uint8Array>, into: { text: string }): Promise<void> {
  return (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) into.text += chunk;
  })();
}

test("works with openssl s_server and a person typing frames, trusting it through --ca", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const server = new Deno.Command("openssl", {
    args: [
      "s_server",
      "-accept",
      `127.0.0.1:${port}`,
      "-cert",
      certs.caTrue.certFile,
      "-key",
      certs.caTrue.keyFile,
      "-naccept",
      "1",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const serverOut = { text: "" };
  const serverErr = { text: "" };
  const reading = Promise.all([
    collect(server.stdout, serverOut),
    collect(server.stderr, serverErr),
  ]);
  const typist = server.stdin.getWriter();
  const type = (line: string) => typist.write(new TextEncoder().encode(line + "\n"));
  assert(await eventually(() => serverOut.text.includes("ACCEPT"), 10_000), serverErr.text);

  const config = await Deno.makeTempDir({ prefix: "chat-client-openssl-" });
  const client = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      "main.ts",
      "client",
      "--addr",
      `localhost:${port}`,
      "--nick",
      "bob",
      "--ca",
      certs.caTrue.certFile,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1", TZ: "UTC", HOME: config, XDG_CONFIG_HOME: config },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const clientOut = { text: "" };
  const clientErr = { text: "" };
  const clientReading = Promise.all([
    collect(client.stdout, clientOut),
    collect(client.stderr, clientErr),
  ]);
  const input = client.stdin.getWriter();
  await input.write(new TextEncoder().encode("hello from bob\n"));

  assert(
    await eventually(() => serverOut.text.includes('{"command":"login","nickname":"bob"}'), 15_000),
    serverOut.text + clientErr.text,
  );
  await type('{"status":"ok"}');
  await type('{"from":"alice","message":"hi bob","time":"2017-01-12T20:00:00+01:00"}');
  assert(
    await eventually(() => serverOut.text.includes('"message":"hello from bob"')),
    serverOut.text,
  );
  assert(await eventually(() => clientOut.text.includes("<alice> hi bob")), clientOut.text);
  await input.close();
  const status = await client.status;
  await clientReading;
  assert.equal(status.code, 0, clientErr.text);
  assert.match(clientOut.text, /^19:00 <alice> hi bob$/m);
  assert.match(clientOut.text, /^\d\d:\d\d <bob> hello from bob$/m);
  // s_server reports a clean TLS shutdown (the client's close_notify) as DONE.
  assert(await eventually(() => serverOut.text.includes("DONE"), 5000), serverOut.text);
  await typist.close().catch(() => {});
  await server.status;
  await reading;
  await Deno.remove(config, { recursive: true });
});
