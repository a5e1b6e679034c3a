// A real full disk under a server process (issue 16, item 1): --data-dir on
// a 2 MiB tmpfs that fills while four clients post with ids, then frees. The
// retry path used to drop the messages posted while a failed write ran, and
// ack them all the same: acked messages were missing from messages.log, and
// the restart refused the log ("seq 42 where 36 was expected"). Mounting
// needs root (as in CI here); elsewhere the test says so and does nothing
// (tests/server/file_store_faults_test.ts injects the same failures
// in-process everywhere).

import assert from "node:assert/strict";
import { LineClient } from "../../bench/fault/line_client.ts";
import { sleep } from "../../lib/deadline.ts";
import { eventually } from "../../bench/fault/schedule.ts";
import { ServerProcess } from "../../bench/fault/server_process.ts";

const SENDERS = 4;
/**
 * Messages each sender keeps unanswered: many, so posts keep arriving while
 * a write fails (a small window waits for the acks of the very batch that
 * fails, and the lost posts never happen).
 */
const WINDOW = 1000;
/** Times the disk fills and frees in one run: each had about even odds of losing acked posts. */
const EPISODES = 3;
const TEXT_BYTES = 1000;

/** Runs `test` with a 2 MiB tmpfs mounted at a temporary folder; false where it cannot mount. */
async function withTmpfs(test: (mount: string) => Promise<void>): Promise<boolean> {
  const mount = await Deno.makeTempDir({ prefix: "chat-disk-full-" });
  try {
    const mounted = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mount],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => ({ success: false }));
    if (!mounted.success) return false;
    try {
      await test(mount);
    } finally {
      await new Deno.Command("umount", { args: ["-l", mount] }).output();
    }
    return true;
  } finally {
    await Deno.remove(mount, { recursive: true });
  }
}

/** Room left on the file system of `dir`, in bytes. */
async function available(dir: string): Promise<number> {
  const { stdout } = await new Deno.Command("df", { args: ["-B1", "--output=avail", dir] })
    .output();
  return Number(new TextDecoder().decode(stdout).trim().split("\n").at(-1));
}

/**
 * Takes all but `leave` bytes of the disk with the file `path`: the log then
 * fills the rest itself, through writes that succeed in part and then fail,
 * as a real disk fills.
 */
async function fillUp(path: string, leave: number): Promise<void> {
  const size = await available(path.slice(0, path.lastIndexOf("/"))) - leave;
  await Deno.writeFile(path, new Uint8Array(Math.max(size, 0)));
}

/** Sends numbered messages with ids, up to WINDOW unanswered, until `stop()`; records the acked texts. */
async function post(
  client: LineClient,
  name: string,
  stop: () => boolean,
  acked: string[],
  refused: { count: number },
): Promise<void> {
  const pending = new Map<string, string>();
  let wake: (() => void) | undefined;
  client.onLine = (line) => {
    const frame = JSON.parse(line);
    if (typeof frame.id !== "string" || !pending.has(frame.id)) return;
    if (frame.status === "ok") acked.push(pending.get(frame.id)!);
    else refused.count++;
    pending.delete(frame.id);
    wake?.();
  };
  const pad = "x".repeat(TEXT_BYTES);
  for (let n = 0; !stop() && !client.closed; n++) {
    while (pending.size >= WINDOW && !stop()) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, 50);
      });
      clearTimeout(timer);
    }
    const id = `${name}-${n}`;
    const text = `${name} n${n} ${pad}`;
    pending.set(id, text);
    await client.send({ message: text, id });
    if (n % 8 === 7) await sleep(1);
  }
  await eventually(() => pending.size === 0, 5000);
}

Deno.test({
  name: "a disk that fills and frees under load loses no acked message, and the log loads again",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "chat-disk-full-work-" });
    try {
      const ran = await withTmpfs(async (mount) => {
        const args = ["--data-dir", `${mount}/data`, "--rate-limit", "0"];
        const server = await ServerProcess.start({ dir: work, args });
        const acked: string[] = [];
        const refused = { count: 0 };
        let done = false;
        const clients = await Promise.all(
          Array.from({ length: SENDERS }, (_, k) => LineClient.login(server, `s${k}`)),
        );
        const posting = clients.map((client, k) =>
          post(client, `s${k}`, () => done, acked, refused)
        );
        for (let episode = 0; episode < EPISODES; episode++) {
          const refusedBefore = refused.count;
          await fillUp(`${mount}/filler`, 200 * 1024);
          assert.ok(await eventually(() => refused.count > refusedBefore, 15_000), "never refused");
          assert.ok(
            await eventually(() => /cannot write .*messages\.log/.test(server.stderr), 5000),
          );
          await Deno.remove(`${mount}/filler`);
          const ackedBefore = acked.length;
          assert.ok(
            await eventually(() => acked.length > ackedBefore + 50, 15_000),
            `episode ${episode}: posting never worked again after the disk was freed`,
          );
        }
        done = true;
        await Promise.all(posting);
        for (const client of clients) await client.close();
        assert.equal((await server.kill("SIGTERM")).code, 0, server.stderr);

        const again = await ServerProcess.start({ dir: work, args, timeoutMs: 20_000 });
        try {
          const count = Number(/history \S+: (\d+) messages?/.exec(again.stdout)?.[1]);
          const reader = await LineClient.login(again, "reader");
          const replay: { seq: number; message: string }[] = [];
          for (let i = 0; i < count; i++) replay.push(await reader.next(10_000) as never);
          await reader.close();
          assert.deepEqual(replay.map((f) => f.seq), replay.map((_, i) => i + 1), "seq 1, 2, 3, …");
          const stored = new Set(replay.map((f) => f.message));
          const missing = acked.filter((text) => !stored.has(text));
          assert.deepEqual(missing.map((text) => text.slice(0, 12)), [], "acked but not stored");
          // Each sender's stored messages are a prefix of what it sent, in order.
          for (let k = 0; k < SENDERS; k++) {
            const ns = replay.filter((f) => f.message.startsWith(`s${k} `))
              .map((f) => Number(f.message.split(" ")[1].slice(1)));
            assert.deepEqual(ns, [...ns].sort((a, b) => a - b), `s${k} in order`);
          }
        } finally {
          await again.kill("SIGTERM");
        }
      });
      // deno-lint-ignore no-console -- say why the test did nothing here.
      if (!ran) console.warn("skipped: cannot mount a tmpfs here (not root?)");
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});
