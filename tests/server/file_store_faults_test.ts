// The durable history when its disk misbehaves (issue 16, items 1 and 2),
// in-process: the real log file, behind a wrapper that makes a write fail
// half-way, an fsync or a truncate fail, or a write wait until the test lets
// it go. (file_store_test.ts fills a real tmpfs; tests/fault/disk_full_test.ts
// does it to a server process.)

import assert from "node:assert/strict";
import { FileStore, LOG_FILE, type LogFile } from "../../lib/server/file_store.ts";
import { encodeChatMessage } from "../../lib/protocol.ts";

const encoder = new TextEncoder();

function message(text: string) {
  return (seq: number) =>
    encoder.encode(
      encodeChatMessage({ from: "bob", message: text, time: "2017-01-12T20:00:00-0800", seq }),
    );
}

const DISK_FULL = () => new Error("No space left on device (os error 28)");

/** A gate a wrapped call waits at until the test opens it. */
function gate(): { reached: Promise<void>; wait: () => Promise<void>; open: () => void } {
  let reach = () => {};
  let open = () => {};
  const reached = new Promise<void>((resolve) => reach = resolve);
  const opened = new Promise<void>((resolve) => open = resolve);
  return {
    reached,
    wait: () => {
      reach();
      return opened;
    },
    open,
  };
}

/** The log, with the failures a test asks for, each used once, in order of the calls. */
interface Faults {
  /** Per write call: write half and report it, then throw on the next call; or throw at once. */
  writes?: ("half then fail" | "fail" | "ok")[];
  /** Waits here before the first write fails (or goes through). */
  firstWrite?: ReturnType<typeof gate>;
  syncs?: ("fail" | "ok")[];
  /** Waits here before each fsync while set. */
  syncGate?: ReturnType<typeof gate>;
  truncates?: ("fail" | "ok")[];
  /** Each write takes this long (a slow disk: more posts arrive while it runs). */
  writeMs?: number;
}

function faulty(file: LogFile, faults: Faults): LogFile {
  let failNext = false;
  let first = true;
  return {
    async write(bytes) {
      if (first && faults.firstWrite) await faults.firstWrite.wait();
      first = false;
      if (faults.writeMs) await new Promise((resolve) => setTimeout(resolve, faults.writeMs));
      if (failNext) {
        failNext = false;
        throw DISK_FULL();
      }
      const fault = faults.writes?.shift() ?? "ok";
      if (fault === "fail") throw DISK_FULL();
      if (fault === "half then fail" && bytes.length > 1) {
        failNext = true;
        return await file.write(bytes.subarray(0, bytes.length >> 1));
      }
      return await file.write(bytes);
    },
    async syncData() {
      await faults.syncGate?.wait();
      if ((faults.syncs?.shift() ?? "ok") === "fail") throw new Error("Input/output error");
      await file.syncData();
    },
    async truncate(length) {
      if ((faults.truncates?.shift() ?? "ok") === "fail") throw new Error("Input/output error");
      await file.truncate(length);
    },
    seek: (offset, whence) => file.seek(offset, whence),
    close: () => file.close(),
  };
}

async function withStore(
  faults: Faults,
  test: (store: FileStore, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const store = await FileStore.open(dir, {
      warn: () => {},
      wrapLog: (file) => faulty(file, faults),
    });
    try {
      await test(store, dir);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The messages in the log file, as [seq, text]; fails on a line that is not a whole message. */
async function onDisk(dir: string): Promise<[number, string][]> {
  const text = await Deno.readTextFile(`${dir}/${LOG_FILE}`);
  assert.ok(text === "" || text.endsWith("\n"), `a torn last line: ${JSON.stringify(text)}`);
  return text.split("\n").filter(Boolean).map((line) => {
    const frame = JSON.parse(line);
    return [frame.seq, frame.message];
  });
}

/** Reopens the log as a restarted server would, and returns its newest seq. */
async function reopen(dir: string): Promise<number> {
  const again = await FileStore.open(dir, { warn: () => {} });
  const last = again.lastSeq;
  await again.close();
  return last;
}

Deno.test("messages appended while a write fails are written and acked by the retry, none before", () => {
  const firstWrite = gate();
  return withStore({ writes: ["half then fail"], firstWrite }, async (store, dir) => {
    const acked: number[] = [];
    const ack = (seq: number) => store.whenDurable(seq).then((n) => acked.push(n));
    const first = ack(store.append(message("one"), 1));
    await firstWrite.reached;
    // The write of "one" is in flight; these join the next batch.
    const more = [ack(store.append(message("two"), 1)), ack(store.append(message("three"), 1))];
    firstWrite.open();
    await first;
    // Acked means on disk: at the first ack, everything acked so far is in the file.
    for (const seq of acked) {
      assert.ok((await onDisk(dir)).some(([s]) => s === seq), `acked ${seq} is not on disk`);
    }
    await Promise.all(more);
    assert.deepEqual(await onDisk(dir), [[1, "one"], [2, "two"], [3, "three"]]);
    assert.equal(store.append(message("four"), 1), 4, "accepting again");
    await store.whenDurable(4);
  });
});

Deno.test("after a failed write, nothing more is written until the torn part is cut off", () =>
  withStore(
    { writes: ["half then fail"], truncates: ["fail", "fail"] },
    async (store, dir) => {
      const seq = store.append(message("one"), 1);
      await store.whenDurable(seq);
      assert.deepEqual(await onDisk(dir), [[1, "one"]]);
    },
  ));

Deno.test("an fsync that fails after a whole write is cut back and written once", () =>
  withStore({ syncs: ["fail"] }, async (store, dir) => {
    await store.whenDurable(store.append(message("one"), 1));
    assert.deepEqual(await onDisk(dir), [[1, "one"]]);
  }));

Deno.test("a restarted store loads every acked message after a failing disk, seqs without a gap", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const faults: Faults = {
      writes: ["ok", "half then fail", "ok", "fail", "half then fail"],
      truncates: ["ok", "fail"],
      syncs: ["ok", "ok", "fail"],
      writeMs: 5,
    };
    const store = await FileStore.open(dir, {
      warn: () => {},
      wrapLog: (file) => faulty(file, faults),
    });
    const acked: number[] = [];
    // Four clients' posts, a few per turn of the event loop, as a server sees them.
    for (let i = 0; i < 200; i++) {
      try {
        const seq = store.append(message(`m${i}`), 1);
        store.whenDurable(seq).then((n) => acked.push(n), () => {});
      } catch {
        // Refused while the disk fails: the client is told, nothing is stored.
      }
      if (i % 4 === 3) await new Promise((resolve) => setTimeout(resolve, i % 28 === 27 ? 20 : 0));
    }
    await store.whenDurable(store.lastSeq);
    await store.close();
    const lines = await onDisk(dir);
    assert.deepEqual(lines.map(([seq]) => seq), lines.map((_, i) => i + 1), "seq 1, 2, 3, …");
    for (const seq of acked) assert.ok(seq <= lines.length, `acked ${seq} is missing`);
    assert.equal(await reopen(dir), lines.length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a message is readable for relay and replay only once its fsync is done", () => {
  const syncGate = gate();
  return withStore({ syncGate }, async (store) => {
    let woken = 0;
    store.onVisible(() => woken++);
    const seq = store.append(message("one"), 1);
    await syncGate.reached;
    assert.equal(store.lastSeq, 1);
    assert.equal(store.visibleSeq, 0);
    assert.equal(store.read(1, 1 << 20, -1).bytes, 0, "nothing to send before the fsync");
    assert.equal(store.bytesFrom(1), 0, "nor waiting, for a slow reader's limit");
    assert.equal(woken, 0);
    syncGate.open();
    await store.whenDurable(seq);
    assert.equal(store.visibleSeq, 1);
    assert.ok(store.read(1, 1 << 20, -1).bytes > 0);
    assert.equal(store.bytesFrom(1), store.read(1, 1 << 20, -1).bytes);
    assert.equal(woken, 1);
  });
});
