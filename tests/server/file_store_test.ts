// The durable history (lib/server/file_store.ts) against a real folder.

import assert from "node:assert/strict";
import { FatalError, Unavailable } from "../../lib/errors.ts";
import { FileStore, LOG_FILE } from "../../lib/server/file_store.ts";
import { encodeChatMessage } from "../../lib/protocol.ts";
import { concatBytes } from "../../lib/bytes.ts";

const encoder = new TextEncoder();

function message(text: string) {
  return (seq: number) =>
    encoder.encode(
      encodeChatMessage({ from: "bob", message: text, time: "2017-01-12T20:00:00-0800", seq }),
    );
}

function replay(store: FileStore): string[] {
  const read = store.read(1, 1 << 30, -1);
  return read.pieces.map((p) => new TextDecoder().decode(p)).join("").trimEnd().split("\n").filter((
    l,
  ) => l)
    .map((l) => JSON.parse(l).message);
}

async function withDir(test: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await test(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("keeps every message across a close and reopen, and seq goes on", () =>
  withDir(async (dir) => {
    const warnings: string[] = [];
    const first = await FileStore.open(dir, { warn: (w) => warnings.push(w) });
    for (const text of ["one", "two", "three"]) first.append(message(text), 7);
    await first.whenDurable(3);
    await first.close();

    const second = await FileStore.open(dir, { warn: (w) => warnings.push(w) });
    assert.equal(second.lastSeq, 3);
    assert.deepEqual(replay(second), ["one", "two", "three"]);
    assert.equal(second.append(message("four"), 7), 4);
    await second.close();
    const lines = (await Deno.readTextFile(`${dir}/${LOG_FILE}`)).trimEnd().split("\n");
    assert.deepEqual(lines.map((l) => JSON.parse(l).seq), [1, 2, 3, 4]);
    assert.deepEqual(warnings, []);
  }));

Deno.test("resolves whenDurable only once the message is written to the file", () =>
  withDir(async (dir) => {
    const store = await FileStore.open(dir, { warn: () => {} });
    const seq = store.append(message("persist me"), 1);
    await store.whenDurable(seq);
    const onDisk = await Deno.readTextFile(`${dir}/${LOG_FILE}`);
    assert.match(onDisk, /"message":"persist me","time":"2017-01-12T20:00:00-0800","seq":1\}\n$/);
    await store.close();
  }));

Deno.test("groups many appends into few writes and acks them all", () =>
  withDir(async (dir) => {
    const store = await FileStore.open(dir, { warn: () => {} });
    const acks: Promise<number>[] = [];
    for (let i = 0; i < 1000; i++) acks.push(store.whenDurable(store.append(message(`m${i}`), 1)));
    await Promise.all(acks);
    await store.close();
    const reopened = await FileStore.open(dir, { warn: () => {} });
    assert.equal(reopened.lastSeq, 1000);
    await reopened.close();
  }));

Deno.test("cuts off a torn last line with a warning and keeps the rest", () =>
  withDir(async (dir) => {
    const store = await FileStore.open(dir, { warn: () => {} });
    store.append(message("whole"), 1);
    await store.whenDurable(1);
    await store.close();
    await Deno.writeTextFile(`${dir}/${LOG_FILE}`, '{"from":"bob","message":"tor', {
      append: true,
    });

    const warnings: string[] = [];
    const reopened = await FileStore.open(dir, { warn: (w) => warnings.push(w) });
    assert.equal(reopened.lastSeq, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /cut off a torn last line in .*messages\.log \(line 2, 28 bytes/);
    assert.equal(reopened.append(message("after"), 1), 2);
    await reopened.close();
    const lines = (await Deno.readTextFile(`${dir}/${LOG_FILE}`)).split("\n");
    assert.deepEqual(lines.slice(0, 2).map((l) => JSON.parse(l).message), ["whole", "after"]);
  }));

Deno.test("refuses to start on damage before the last line, naming the file and line", () =>
  withDir(async (dir) => {
    const store = await FileStore.open(dir, { warn: () => {} });
    for (const text of ["a", "b", "c"]) store.append(message(text), 1);
    await store.whenDurable(3);
    await store.close();
    const lines = (await Deno.readTextFile(`${dir}/${LOG_FILE}`)).split("\n");
    for (
      const [damaged, why] of [
        ["garbage", /line 2 is damaged \(not a stored message\)/],
        [lines[2], /line 2 is damaged \(seq 3 where 2 was expected\)/],
      ] as const
    ) {
      const copy = [...lines];
      copy[1] = damaged;
      await Deno.writeTextFile(`${dir}/${LOG_FILE}`, copy.join("\n"));
      await assert.rejects(FileStore.open(dir, { warn: () => {} }), (error: Error) => {
        assert.ok(error instanceof FatalError);
        assert.match(error.message, why);
        assert.match(error.message, /messages\.log/);
        return true;
      });
    }
  }));

Deno.test("a second store on the same folder is refused while the first holds it", () =>
  withDir(async (dir) => {
    const first = await FileStore.open(dir, { warn: () => {} });
    await assert.rejects(
      FileStore.open(dir, { warn: () => {} }),
      /another chat server is using it/,
    );
    await first.close();
    const again = await FileStore.open(dir, { warn: () => {} });
    await again.close();
  }));

Deno.test("replays only the newest messages with a history limit, and keeps all on disk", () =>
  withDir(async (dir) => {
    const store = await FileStore.open(dir, { warn: () => {}, historyLimit: 2 });
    for (const text of ["a", "b", "c", "d"]) store.append(message(text), 1);
    await store.whenDurable(4);
    assert.deepEqual(replay(store), ["c", "d"]);
    await store.close();
    const reopened = await FileStore.open(dir, { warn: () => {}, historyLimit: 2 });
    assert.deepEqual(replay(reopened), ["c", "d"]);
    assert.equal(reopened.lastSeq, 4);
    await reopened.close();
  }));

/** Runs `test` on a 64 KiB tmpfs (needs root, as in CI); says so and skips where it cannot mount. */
async function withTinyDisk(
  test: (dir: string, grow: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const mount = (args: string[]) =>
    new Deno.Command("mount", { args, stdout: "null", stderr: "null" }).output();
  try {
    if (
      !(await mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]).catch(() => ({
        success: false,
      }))).success
    ) {
      // deno-lint-ignore no-console -- say why the test did nothing here.
      console.warn("skipped: cannot mount a tmpfs here (not root?)");
      return;
    }
    try {
      await test(dir, async () => {
        assert.ok((await mount(["-o", "remount,size=1m", dir])).success);
      });
    } finally {
      await new Deno.Command("umount", { args: ["-l", dir] }).output();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a full disk refuses new messages, keeps the log loadable, and stores the batch once it can", () =>
  withTinyDisk(async (dir, grow) => {
    const warnings: string[] = [];
    const store = await FileStore.open(dir, { warn: (w) => warnings.push(w) });
    const big = "x".repeat(3000);
    const acks: Promise<string>[] = [];
    let refused = 0;
    for (let i = 0; i < 40; i++) {
      try {
        const seq = store.append(message(`${i} ${big}`), 1);
        acks.push(store.whenDurable(seq).then(() => `ok ${seq}`, () => `failed ${seq}`));
      } catch {
        refused++;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(refused > 0, "the disk filled up and new messages were refused");
    assert.ok(warnings.some((w) => /cannot write .*messages\.log/.test(w)), warnings.join("\n"));
    // The log on disk holds only whole lines, so a restart could load it.
    const onDisk = await Deno.readTextFile(`${dir}/${LOG_FILE}`);
    assert.ok(onDisk.endsWith("\n"));
    await grow();
    const results = await Promise.all(acks);
    assert.ok(results.every((r) => r.startsWith("ok")), results.join(", "));
    assert.equal(store.append(message("after"), 1), acks.length + 1, "accepting again");
    await store.close();
    const reopened = await FileStore.open(dir, { warn: () => {} });
    assert.equal(reopened.lastSeq, acks.length + 1, "every accepted message is on disk, once");
    await reopened.close();
  }));

Deno.test({
  name:
    "a log that opens but cannot be sought or cut (a FIFO) is a FatalError, and no handle is left open",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withDir(async (dir) => {
      const path = `${dir}/${LOG_FILE}`;
      // Empty: the seek to the end fails. A torn line: cutting it off fails.
      for (const content of ["", '{"from":"bob","mess']) {
        const made = await new Deno.Command("mkfifo", { args: [path] }).output();
        assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
        const opening = FileStore.open(dir, { warn: () => {} });
        // The store reads the FIFO to its end: write what it holds, then close it.
        const writer = await Deno.open(path, { write: true });
        await writer.write(encoder.encode(content));
        writer.close();
        await assert.rejects(opening, (error: Error) => {
          assert.ok(error instanceof FatalError);
          assert.match(error.message, /^cannot open the history .* for writing: /);
          return true;
        });
        // The resource sanitizer fails this test if the log's handle leaked.
        await Deno.remove(path);
      }
    }),
});

Deno.test("closed while the disk fails, the messages not yet written are refused as Unavailable", () =>
  withTinyDisk(async (dir) => {
    const store = await FileStore.open(dir, { warn: () => {} });
    const big = "x".repeat(3000);
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      try {
        acks.push(store.whenDurable(store.append(message(`${i} ${big}`), 1)).catch((e) => e));
      } catch {
        break; // The disk is full: the batch in flight waits for a retry that never comes.
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await store.close();
    const failed = (await Promise.all(acks)).filter((result) => typeof result !== "number");
    assert.ok(failed.length > 0, "some messages were still waiting for the disk");
    assert.ok(failed.every((error) => error instanceof Unavailable), String(failed[0]));
  }));

Deno.test("a stored line with a lone surrogate (an older server's) is replayed with U+FFFD, the file kept as it was", () =>
  withDir(async (dir) => {
    const time = "2017-01-12T20:00:00-0800";
    const written = [
      '{"from":"bob","message":"x\\ud800y","time":"2017-01-12T20:00:00-0800","seq":1}',
      JSON.stringify({ from: "bob", message: "fine", time, seq: 2 }),
      '{"from":"b\\udc00b","message":"z","time":"2017-01-12T20:00:00-0800","seq":3}',
    ].join("\n") + "\n";
    await Deno.writeTextFile(`${dir}/${LOG_FILE}`, written);
    const warnings: string[] = [];
    const store = await FileStore.open(dir, { warn: (w) => warnings.push(w) });
    const read = store.read(1, 1 << 20, -1);
    const replayed = new TextDecoder().decode(concatBytes(read.pieces, read.bytes));
    assert.doesNotMatch(replayed, /\\ud[89a-f]/i);
    assert.deepEqual(replayed.trimEnd().split("\n").map((line) => JSON.parse(line)), [
      { from: "bob", message: "x\ufffdy", time, seq: 1 },
      { from: "bob", message: "fine", time, seq: 2 },
      { from: "b\ufffdb", message: "z", time, seq: 3 },
    ]);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], /2 stored messages hold a lone surrogate/);
    assert.equal(store.append(message("after"), 1), 4);
    await store.close();
    assert.equal(
      (await Deno.readTextFile(`${dir}/${LOG_FILE}`)).slice(0, written.length),
      written,
      "the file is not rewritten",
    );
  }));
