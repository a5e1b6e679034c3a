// A stored history line with a `from` that is not a string (issue 16): it
// stopped the server at startup with a stack trace ("Cannot convert object
// to primitive value"). A damaged log is the operator's to repair, so the
// server refuses to start, in one sentence naming the file and the line.

import assert from "node:assert/strict";
import { runChat } from "../../bench/chat_process.ts";

Deno.test("a stored line whose from is an object stops the start with one sentence, not a stack trace", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-damaged-log-" });
  try {
    await Deno.mkdir(`${dir}/data`);
    const time = "2017-01-12T20:00:00-0800";
    const lines = [
      JSON.stringify({ from: "bob", message: "first", time, seq: 1 }),
      `{"from":{"toString":1},"message":"x","time":"${time}","seq":2}`,
      JSON.stringify({ from: "bob", message: "third", time, seq: 3 }),
    ];
    await Deno.writeTextFile(`${dir}/data/messages.log`, lines.join("\n") + "\n");
    const { code, stdout, stderr } = await runChat(
      ["server", "--host", "127.0.0.1", "--port", "0", "--data-dir", `${dir}/data`],
      dir,
    );
    assert.equal(code, 1, `stdout: ${stdout}\nstderr: ${stderr}`);
    assert.doesNotMatch(stderr, /unexpected error|Cannot convert|\n\s+at /, stderr);
    assert.match(
      stderr,
      /^chat: cannot load the history: \S*messages\.log line 2 is damaged \(not a stored message\)/,
    );
    assert.equal(stderr.trimEnd().split("\n").length, 1, stderr);
    assert.doesNotMatch(stdout, /listening on/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
