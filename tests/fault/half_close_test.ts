// A client that half-closes (TLS close_notify and FIN, still reading, as
// `ncat --ssl` does at the end of its input) is owed everything the server
// had to say: its replay, the answer to its last frame. Found by the fuzzer:
// node's default allowHalfOpen=false ended the server's side as soon as the
// client's FIN arrived, cutting the replay short and dropping the answers.

import assert from "node:assert/strict";
import { startServer } from "../server/_helpers.ts";
import { type Frame, LineClient } from "../../bench/fault/line_client.ts";
import { ServerProcess } from "../../bench/fault/server_process.ts";

/** Every frame until the server closes the connection. */
async function readToEnd(client: LineClient): Promise<Frame[]> {
  const frames: Frame[] = [];
  while (true) {
    const frame = await client.next(5000).catch((error: Error) => error);
    if (frame instanceof Error) {
      assert.match(frame.message, /closed/);
      return frames;
    }
    frames.push(frame);
  }
}

Deno.test("a client that logs in and half-closes still gets its whole replay", async () => {
  await using server = await startServer();
  await using writer = await LineClient.login(server, "writer");
  const count = 5000;
  await writer.send(
    Array.from({ length: count }, (_, i) => JSON.stringify({ message: `m${i} ${"x".repeat(100)}` }))
      .join("\n") + "\n",
  );
  await writer.send({ message: "last", id: "last" });
  assert.deepEqual(await writer.next(), { status: "ok", id: "last" });
  await using reader = await LineClient.connect(server);
  await reader.send({ command: "login", nickname: "reader" });
  await reader.conn.closeWrite();
  const frames = await readToEnd(reader);
  assert.deepEqual(frames[0], { status: "ok" });
  assert.equal(frames.length, 1 + count + 1, "the login answer and every stored message");
  assert.deepEqual(
    frames.slice(1).map((f) => f.seq),
    Array.from({ length: count + 1 }, (_, i) => i + 1),
  );
});

Deno.test("a frame cut off by the client's half-close is still answered", async () => {
  await using server = await startServer();
  await using client = await LineClient.login(server, "cut");
  await client.send('{"message":5}\n{"message"');
  await client.conn.closeWrite();
  const frames = await readToEnd(client);
  assert.deepEqual(frames, [
    { status: "error", reason: "message must be a string" },
    { status: "error", reason: "malformed JSON" },
  ]);
});

Deno.test("the ack of a message in the client's last frame still comes after its half-close", async () => {
  await using server = await startServer();
  await using client = await LineClient.login(server, "acked");
  await client.send('{"message":"a","id":"1"}\n{"message":"b","id":"2"}');
  await client.conn.closeWrite();
  assert.deepEqual(await readToEnd(client), [
    { status: "ok", id: "1" },
    { status: "ok", id: "2" },
  ]);
});

Deno.test("with --data-dir, acks still on their way to the disk come after a half-close", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-fault-" });
  try {
    await using server = await ServerProcess.start({ dir, args: ["--data-dir", `${dir}/data`] });
    await using client = await LineClient.login(server, "durable");
    const ids = Array.from({ length: 50 }, (_, i) => `${i}`);
    await client.send(ids.map((id) => JSON.stringify({ message: `m${id}`, id }) + "\n").join(""));
    await client.conn.closeWrite();
    assert.deepEqual(await readToEnd(client), ids.map((id) => ({ status: "ok", id })));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
