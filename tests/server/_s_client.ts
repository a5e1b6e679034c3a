// `openssl s_client` as a person at a terminal runs it, for the server's
// tests: lines typed, what the screen shows, and the hard ways to leave.

import { eventually } from "./_helpers.ts";

/** `openssl s_client` as a person at a terminal would run it (with -crlf, as some do). */
export class SClient {
  readonly child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  output = "";
  readonly #reading: Promise<void>;

  /** `extra`: more s_client flags, such as `-cert FILE -key FILE` to present a certificate. */
  constructor(port: number, caFile: string, extra: string[] = []) {
    this.child = new Deno.Command("openssl", {
      args: [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-servername",
        "localhost",
        "-CAfile",
        caFile,
        "-verify_return_error",
        "-quiet",
        "-crlf",
        ...extra,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#writer = this.child.stdin.getWriter();
    const stdout = this.child.stdout;
    this.#reading = (async () => {
      for await (const text of stdout.pipeThrough(new TextDecoderStream())) {
        this.output += text;
      }
    })();
  }

  /** Types a line and presses Enter. */
  async type(line: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(line + "\n"));
  }

  /** Waits until the screen shows a line matching `pattern`. */
  async sees(pattern: RegExp, timeoutMs = 5000): Promise<boolean> {
    return await eventually(() => pattern.test(this.output), timeoutMs);
  }

  async kill(signal: Deno.Signal): Promise<void> {
    // s_client may already have gone by itself (the server closed, as after
    // a kick or a SIGKILL of the server); then there is nothing to kill.
    try {
      this.child.kill(signal);
    } catch (error) {
      if (!(error instanceof TypeError && /already terminated/.test(error.message))) throw error;
    }
    await this.child.status;
    await this.#writer.close().catch(() => {});
    await this.#reading;
  }
}
