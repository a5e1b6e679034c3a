// The programs the tests drive besides Deno: openssl (peers and certificates
// made the way users make them), tmux (the client on a real terminal), ncat
// (the line-broadcast server the bench compares with) and redis-server (with
// redis-cli, from the same package). .ci/run installs them all. A test that
// needs one that is missing is skipped with a notice on stderr, never failed:
//
//   const test = testNeeding("tmux"); // Deno.test, skipped without tmux
//   test("…", async () => { … });
//
// In CI a missing tool is an error before any test runs (.ci/run).

/** Every tool a test may need; .ci/run installs exactly these (tests/ci_test.ts checks). */
export const TOOLS = ["openssl", "tmux", "ncat", "redis-server"] as const;

/** One of {@linkcode TOOLS}. */
export type Tool = typeof TOOLS[number];

const found = new Map<Tool, boolean>();

/** Whether `tool` is on PATH (through sh's `command -v`), asked once per process. */
export function onPath(tool: Tool): boolean {
  let known = found.get(tool);
  if (known === undefined) {
    const { success } = new Deno.Command("sh", {
      args: ["-c", 'command -v "$0"', tool],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    known = success;
    found.set(tool, known);
    if (!known) {
      const notice =
        `tests that need ${tool} are skipped: it is not on PATH (.ci/run installs it)\n`;
      Deno.stderr.writeSync(new TextEncoder().encode(notice));
    }
  }
  return known;
}

/**
 * True when any of `tools` is missing, for a test's `ignore`. The first time
 * a tool is found missing, a notice says which tests are skipped and why.
 */
export function missing(...tools: Tool[]): boolean {
  return tools.map(onPath).includes(false);
}

/**
 * `Deno.test(name, fn)` for tests that need `tools`: each is skipped
 * (Deno.test's `ignore`) when one is missing, and a notice says why.
 */
export function testNeeding(
  ...tools: Tool[]
): (name: string, fn: (t: Deno.TestContext) => void | Promise<void>) => void {
  const ignore = missing(...tools);
  return (name, fn) => Deno.test({ name, ignore, fn });
}
