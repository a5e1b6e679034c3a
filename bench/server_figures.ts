// deno-lint-ignore-file no-console -- a benchmark prints its figures.
// Quick figures for the server, in one process over real TLS on loopback:
// how long a new client's replay of N stored messages takes, and how many
// deliveries per second three clients reach when each sends to the other
// two. Prints figures; asserts nothing (speed belongs here, not in tests).
//
//   deno run -A bench/server_figures.ts [REPLAY_MESSAGES] [RELAY_MESSAGES_PER_CLIENT]

import { startInProcess } from "./in_process_server.ts";

const replayCount = Number(Deno.args[0] ?? 100_000);
const relayPerClient = Number(Deno.args[1] ?? 100_000);
const encoder = new TextEncoder();

await using server = await startInProcess({ sendQueueBytes: 1 << 30 });
const { certPem, store } = server;

async function connect(nickname: string): Promise<Deno.TlsConn> {
  const conn = await Deno.connectTls({
    hostname: "localhost",
    port: server.port,
    caCerts: [certPem],
  });
  await writeAll(conn, encoder.encode(JSON.stringify({ command: "login", nickname }) + "\n"));
  return conn;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** Reads until `lines` newlines have arrived; returns the bytes read. */
async function readLines(conn: Deno.Conn, lines: number): Promise<number> {
  const buffer = new Uint8Array(256 * 1024);
  let seen = 0, bytes = 0;
  while (seen < lines) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`connection closed after ${seen} of ${lines} lines`);
    bytes += n;
    for (let i = 0; i < n; i++) if (buffer[i] === 10) seen++;
  }
  return bytes;
}

/** Sends `count` messages of about 100 bytes, batched into large writes. */
async function sendMessages(conn: Deno.Conn, count: number, tag: string): Promise<void> {
  const text = "x".repeat(80);
  let batch: string[] = [];
  for (let i = 0; i < count; i++) {
    batch.push(JSON.stringify({ message: `${tag}${i} ${text}` }));
    if (batch.length === 500 || i === count - 1) {
      await writeAll(conn, encoder.encode(batch.join("\n") + "\n"));
      batch = [];
    }
  }
}

// Replay: fill the history, then time one new client's full replay.
{
  const writer = await connect("filler");
  await readLines(writer, 1);
  await sendMessages(writer, replayCount, "r");
  while (store.lastSeq < replayCount) await new Promise((resolve) => setTimeout(resolve, 10));
  const started = performance.now();
  const reader = await connect("replayer");
  const bytes = await readLines(reader, replayCount + 1);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `replay: ${replayCount} messages (${(bytes / 1e6).toFixed(1)} MB) in ${
      (seconds * 1000).toFixed(0)
    } ms` +
      ` = ${(bytes / 1e6 / seconds).toFixed(0)} MB/s, ${
        (replayCount / seconds / 1e3).toFixed(0)
      }k messages/s`,
  );
  writer.close();
  reader.close();
}

// Relay: three clients, each sends to the other two.
{
  const stored = store.lastSeq;
  const clients = await Promise.all(["a", "b", "c"].map(connect));
  // Each drains its login answer and the replay first.
  await Promise.all(clients.map((c) => readLines(c, stored + 1)));
  const started = performance.now();
  const expected = relayPerClient * 2;
  await Promise.all(clients.map(async (conn, k) => {
    await Promise.all([sendMessages(conn, relayPerClient, `c${k}-`), readLines(conn, expected)]);
  }));
  const seconds = (performance.now() - started) / 1000;
  const deliveries = expected * 3;
  console.log(
    `relay: 3 clients x ${relayPerClient} messages, ${deliveries} deliveries in ${
      (seconds * 1000).toFixed(0)
    } ms` +
      ` = ${(deliveries / seconds / 1e3).toFixed(0)}k deliveries/s`,
  );
  for (const conn of clients) conn.close();
}
