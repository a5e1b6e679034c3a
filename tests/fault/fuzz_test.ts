// Fuzzing the server with fast-check (CI-sized; `deno task soak` runs many
// more cases): random JSON values, mutated frames, random bytes, lines at the
// length limit and valid streams cut at random points, from clients logged in
// and not. Every bad frame is answered with an error, the connection goes on,
// good frames are still relayed, and the server never falls over.
//
// The seed is fixed so CI is reproducible; FAULT_SEED=N picks another one.
// A failure prints fast-check's report: the seed, the path and the shrunk case.

import assert from "node:assert/strict";
import { startServer } from "../server/_helpers.ts";
import { runFuzz } from "../../bench/fault/fuzz.ts";
import { LineClient } from "../../bench/fault/line_client.ts";

const SEED = Number(Deno.env.get("FAULT_SEED") ?? 20261127);

Deno.test("fuzzed frames are each answered, the connection goes on, good frames are relayed", async () => {
  await using server = await startServer();
  const figures = await runFuzz(server, { numRuns: 150, seed: SEED });
  assert.ok(figures.errors > 100 && figures.relays > 100, JSON.stringify(figures));
  // The server is still whole: two new clients chat.
  const since = server.store.lastSeq;
  await using alice = await LineClient.login(server, "alice", since);
  await using bob = await LineClient.login(server, "bob", since);
  await alice.send({ message: "still here" });
  assert.equal((await bob.next()).message, "still here");
  assert.ok(!server.logs.some((l) => l.startsWith("accept error")), server.logs.join("\n"));
});
