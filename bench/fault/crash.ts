// Crash: the server killed with SIGKILL under load with --data-dir, and
// restarted on the same folder, shared by tests/fault/crash_test.ts (a few
// cycles) and bench/soak.ts (twenty).
//
// Each cycle restarts the server, reads the whole replay with a fresh
// nickname and checks it, then puts it under load: `senders` clients send
// numbered messages with ids, each keeping up to `window` unacked, until a
// SIGKILL at a random moment. The replay after every restart must hold
// every message acked so far exactly once, with seq 1, 2, 3, … in order;
// what was stored before must be unchanged (the replay before is a prefix
// of the replay after); each sender's stored messages are a gapless prefix
// of what it sent, in the order sent; and every message a watching client
// was sent before the kill is in the replay under the same seq (a seq a
// client has seen never names another message). Messages sent but not acked
// may be there or not, never twice.

import { type Latency, latency } from "./latency.ts";
import { LineClient } from "./line_client.ts";
import { sleep } from "../../lib/deadline.ts";
import { seededRandom } from "./schedule.ts";
import { ServerProcess } from "./server_process.ts";

/** The size of a crash run. */
export interface CrashOptions {
  cycles: number;
  senders: number;
  /** Unacked messages each sender keeps in flight. */
  window: number;
  /** The kill comes at a random moment in this range (ms after the load starts). */
  killAfterMs: [number, number];
  seed: number;
  messageBytes: number;
}

/** What the crash run did and found. */
export interface CrashFigures {
  cycles: number;
  /** Messages sent, acked, and found stored in the end. */
  sent: number;
  acked: number;
  stored: number;
  /** Stored messages whose ack never arrived (the kill came first). */
  storedUnacked: number;
  /** Restarts whose log ended in a torn line that was cut off. */
  tornLines: number;
  /** From spawn to "listening on" (loading the log included), per restart. */
  restartMs: Latency;
  /** Reading the whole replay with a fresh login, per restart. */
  replayMs: Latency;
  /** From sending a message to its ack (the group commit's fsync included). */
  ackMs: Latency;
  /** Problems found (must be empty). */
  problems: string[];
}

interface Stored {
  line: string;
  cycle: number;
  sender: number;
  n: number;
}

/** Parses "c{cycle} s{sender} n{n} …" out of a stored message. */
function parse(line: string): Stored {
  const frame = JSON.parse(line);
  const [c, s, n] = String(frame.message).split(" ", 3);
  return { line, cycle: Number(c.slice(1)), sender: Number(s.slice(1)), n: Number(n.slice(1)) };
}

/** Logs in with a fresh nickname and reads `count` stored messages. */
async function readReplay(server: ServerProcess, nick: string, count: number): Promise<string[]> {
  const client = await LineClient.login(server, nick);
  try {
    const lines: string[] = [];
    while (lines.length < count) lines.push(await client.nextLine(10_000));
    const extra = await client.quiet(100);
    if (extra.length > 0) throw new Error(`${extra.length} lines beyond the ${count} stored`);
    return lines;
  } finally {
    await client.close();
  }
}

/** Runs the crash cycles in `dir` and returns what was found. */
export async function runCrash(dir: string, options: CrashOptions): Promise<CrashFigures> {
  const random = seededRandom(options.seed);
  const args = ["--data-dir", `${dir}/data`, "--rate-limit", "0", "--max-per-ip", "1000"];
  const problems: string[] = [];
  /** id → message text, for every ack received. */
  const acked = new Map<string, string>();
  /** seq → message text, for every message the watcher was sent in the cycle before. */
  let watched = new Map<number, string>();
  const sentTexts = new Set<string>();
  let previous: string[] = [];
  let tornLines = 0;
  const restartMs: number[] = [], replayMs: number[] = [], ackMs: number[] = [];
  const pad = "x".repeat(Math.max(0, options.messageBytes - 30));

  // cycles + 1 starts: the last one only checks what the last kill left.
  for (let cycle = 0; cycle <= options.cycles; cycle++) {
    const t0 = performance.now();
    const server = await ServerProcess.start({ dir, args });
    restartMs.push(performance.now() - t0);
    try {
      const count = Number(/^history \S+: (\d+) messages?$/m.exec(server.stdout)?.[1] ?? NaN);
      if (/cut off a torn last line/.test(server.stderr)) tornLines++;
      const t1 = performance.now();
      const replay = await readReplay(server, `verify-${cycle}`, count);
      replayMs.push(performance.now() - t1);
      problems.push(...check(cycle, replay, previous, acked, watched));
      previous = replay;
      watched = new Map();
      if (problems.length > 0 || cycle === options.cycles) {
        await server.kill("SIGTERM");
        break;
      }

      // Load, then SIGKILL at a random moment.
      const killAt = options.killAfterMs[0] +
        random() * (options.killAfterMs[1] - options.killAfterMs[0]);
      let killed = false;
      // `since` the newest stored seq: no replay, only the live messages.
      const watcher = await LineClient.login(server, `w${cycle}`, count);
      watcher.onLine = (line) => {
        const frame = JSON.parse(line);
        if (typeof frame.seq === "number") watched.set(frame.seq, frame.message);
      };
      const senders = await Promise.all(
        Array.from(
          { length: options.senders },
          (_, k) => LineClient.login(server, `s${cycle}-${k}`, count),
        ),
      );
      const loads = senders.map(async (client, k) => {
        const pending = new Map<string, { text: string; at: number }>();
        let wake: (() => void) | undefined;
        client.onLine = (line, at) => {
          if (!line.startsWith('{"status"')) return; // The other senders' messages.
          const frame = JSON.parse(line);
          if (frame.status === undefined || typeof frame.id !== "string") return;
          const sent = pending.get(frame.id);
          if (frame.status === "ok" && sent) {
            acked.set(frame.id, sent.text);
            ackMs.push(at - sent.at);
          } else {
            problems.push(`cycle ${cycle}: ${line}`);
          }
          pending.delete(frame.id);
          wake?.();
        };
        for (let n = 0; !killed && !client.closed; n++) {
          while (pending.size >= options.window && !killed && !client.closed) {
            let timer: ReturnType<typeof setTimeout> | undefined;
            await new Promise<void>((resolve) => {
              wake = resolve;
              timer = setTimeout(resolve, 50);
            });
            clearTimeout(timer);
          }
          if (killed || client.closed) break;
          const id = `c${cycle}-s${k}-${n}`;
          const text = `c${cycle} s${k} n${n} ${pad}`;
          pending.set(id, { text, at: performance.now() });
          sentTexts.add(text);
          try {
            await client.send({ message: text, id });
          } catch {
            break; // Killed mid-write.
          }
        }
      });
      await sleep(killAt);
      await server.kill("SIGKILL");
      killed = true;
      await Promise.all(loads);
      for (const client of [...senders, watcher]) await client.close();
    } finally {
      await server.kill("SIGKILL");
    }
  }

  const stored = previous.length;
  const storedTexts = new Set(previous.map((line) => JSON.parse(line).message as string));
  const ackedTexts = new Set(acked.values());
  let storedUnacked = 0;
  for (const text of storedTexts) if (!ackedTexts.has(text)) storedUnacked++;
  return {
    cycles: options.cycles,
    sent: sentTexts.size,
    acked: acked.size,
    stored,
    storedUnacked,
    tornLines,
    restartMs: latency(restartMs),
    replayMs: latency(replayMs),
    ackMs: latency(ackMs),
    problems,
  };
}

/** What is wrong with the replay after restart `cycle` (empty when nothing). */
function check(
  cycle: number,
  replay: string[],
  previous: string[],
  acked: Map<string, string>,
  watched: Map<number, string>,
): string[] {
  const problems: string[] = [];
  const at = `after restart ${cycle}`;
  if (replay.length < previous.length) {
    problems.push(`${at}: ${replay.length} messages stored, ${previous.length} before`);
  }
  for (let i = 0; i < previous.length && i < replay.length; i++) {
    if (replay[i] !== previous[i]) {
      problems.push(`${at}: message ${i + 1} changed: ${previous[i]} became ${replay[i]}`);
      break;
    }
  }
  const texts = new Map<string, number>();
  const next = new Map<string, number>();
  for (const [i, line] of replay.entries()) {
    const frame = JSON.parse(line);
    if (frame.seq !== i + 1) {
      problems.push(`${at}: message ${i + 1} has seq ${frame.seq}`);
      break;
    }
    texts.set(frame.message, (texts.get(frame.message) ?? 0) + 1);
    const { cycle: c, sender, n } = parse(line);
    const key = `c${c} s${sender}`;
    if (n !== (next.get(key) ?? 0)) {
      problems.push(`${at}: ${key} n${n} stored where n${next.get(key) ?? 0} was due`);
    }
    next.set(key, n + 1);
  }
  for (const [text, times] of texts) {
    if (times > 1) problems.push(`${at}: stored ${times} times: ${text.slice(0, 40)}`);
  }
  for (const [id, text] of acked) {
    if (!texts.has(text)) problems.push(`${at}: acked ${id} is missing`);
  }
  for (const [seq, text] of watched) {
    const now = replay[seq - 1] === undefined ? undefined : JSON.parse(replay[seq - 1]).message;
    if (now !== text) {
      problems.push(
        `${at}: seq ${seq} was sent as ${text.slice(0, 20)} before the kill, and is ${
          now === undefined ? "gone" : now.slice(0, 20)
        } now`,
      );
    }
  }
  return problems.slice(0, 20);
}
