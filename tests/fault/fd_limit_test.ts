// A server process under a low `ulimit -n` (issue 16, item 3): one burst of
// connections ran it out of file descriptors, accepting failed, and Deno's
// listener never accepted again, without a word in the log, even once every
// connection had closed. Now --max-clients is lowered at start to what the
// descriptors can hold (with a warning), and the listener is kept accepting.

import assert from "node:assert/strict";
import { sleep } from "../../lib/deadline.ts";
import { eventually } from "../../bench/fault/schedule.ts";
import { HAS_PROC, ServerProcess } from "../../bench/fault/server_process.ts";
import { LineClient } from "../../bench/fault/line_client.ts";

/** Opens `count` TCP connections at once, holds them `holdMs`, closes them. */
async function burst(port: number, count: number, holdMs: number): Promise<number> {
  const conns = await Promise.all(
    Array.from(
      { length: count },
      () => Deno.connect({ hostname: "127.0.0.1", port }).catch(() => undefined),
    ),
  );
  await sleep(holdMs);
  for (const conn of conns) conn?.close();
  return conns.filter(Boolean).length;
}

/** How many connections the server has logged as accepted ("connect" lines). */
function accepted(server: ServerProcess): number {
  return server.stderr.match(/^\S+ connect /gm)?.length ?? 0;
}

/** True when a new TCP connection is accepted (logged) within `timeoutMs`. */
async function accepts(server: ServerProcess, timeoutMs: number): Promise<boolean> {
  const before = accepted(server);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    return await eventually(() => accepted(server) > before, timeoutMs);
  } finally {
    conn.close();
  }
}

/** The descriptors a server process holds when idle, measured once. */
let idleDescriptors: number | undefined;
async function baseline(dir: string): Promise<number> {
  if (idleDescriptors === undefined) {
    await using server = await ServerProcess.start({ dir });
    idleDescriptors = await server.fdCount();
  }
  return idleDescriptors;
}

/** Runs `test` against a server allowed `spare` descriptors beyond its idle count. */
async function withLimitedServer(
  spare: number,
  test: (server: ServerProcess, idle: number) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-fd-limit-" });
  try {
    const idle = await baseline(dir);
    await using server = await ServerProcess.start({
      dir,
      maxFiles: idle + spare,
      args: ["--max-clients", "1000", "--max-per-ip", "1000"],
    });
    await test(server, idle);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "--max-clients is lowered to what ulimit -n allows, so a burst leaves the server accepting",
  ignore: !HAS_PROC,
  fn: () =>
    withLimitedServer(64, async (server, idle) => {
      const lowered = /--max-clients 1000 lowered to (\d+): only \d+ more file descriptors/
        .exec(server.stderr);
      assert.ok(lowered, server.stderr);
      assert.ok(Number(lowered[1]) >= 16 && Number(lowered[1]) < 64, lowered[0]);
      assert.equal(await burst(server.port, 200, 500), 200);
      assert.ok(await eventually(async () => await server.fdCount() <= idle + 2, 10_000), "fds");
      assert.ok(await accepts(server, 5000), `nothing accepted after the burst:\n${server.stderr}`);
      await using alice = await LineClient.login(server, "alice");
      await using bob = await LineClient.login(server, "bob");
      await bob.send({ message: "after the burst" });
      assert.equal((await alice.next()).message, "after the burst");
    }),
});

Deno.test({
  name: "a listener that ran out of descriptors accepts again once they are free",
  ignore: !HAS_PROC,
  fn: () =>
    // So few spare descriptors that the burst's refused connections use them all up.
    withLimitedServer(9, async (server, idle) => {
      assert.match(server.stderr, /--max-clients 1000 lowered to 1:/);
      for (let round = 0; round < 3; round++) {
        await burst(server.port, 200, 300);
        assert.ok(await eventually(async () => await server.fdCount() <= idle + 2, 10_000), "fds");
        assert.ok(
          await accepts(server, 3000),
          `round ${round}: nothing accepted after the burst:\n${server.stderr.slice(-2000)}`,
        );
      }
      // Said once per shortage, with the system's reason, and when it is over.
      assert.match(
        server.stderr,
        /accept error reason="Too many open files \(os error 24\): new connections wait until file descriptors are free"/,
      );
      assert.match(server.stderr, /accepting again/);
    }),
});
