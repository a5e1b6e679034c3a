// Standard input without a terminal: every line is one message.
//
// Lines are cut with the same bounded splitter as the network side, capped
// at the server's message limit, so a huge or binary input cannot grow
// memory; such a line is reported and skipped, the rest still goes out.
// The sink may make reading wait (a full send queue): lines are handed over
// one at a time, and the next chunk is read only when it is ready.

import { LineSplitter } from "../lines.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../protocol.ts";

/** The longest input line sent as a message (the server's default limit, §5). */
export const MAX_INPUT_LINE_BYTES = DEFAULT_MAX_MESSAGE_BYTES;

/** What to do with each line, and with a line that cannot be sent. */
export interface InputSink {
  /** One line; reading waits while the returned promise is pending. */
  line(text: string): void | Promise<void>;
  skipped(reason: string): void;
}

/**
 * Reads `stream` to its end, handing each non-blank line to `sink.line`.
 * Resolves at end of input; `signal` stops reading early.
 */
export async function readInputLines(
  stream: ReadableStream<Uint8Array>,
  sink: InputSink,
  signal?: AbortSignal,
): Promise<void> {
  // What one chunk yielded, in order; at most a chunk's worth of lines.
  let pending: (() => void | Promise<void>)[] = [];
  const splitter = new LineSplitter(MAX_INPUT_LINE_BYTES, {
    line: (text) => pending.push(() => sink.line(text)),
    error: (reason) =>
      pending.push(() =>
        sink.skipped(
          reason === "line too long"
            ? `an input line is longer than ${MAX_INPUT_LINE_BYTES} bytes: not sent`
            : "an input line is not valid UTF-8: not sent",
        )
      ),
  });
  const handOver = async () => {
    const work = pending;
    pending = [];
    for (const step of work) {
      if (signal?.aborted) return;
      await step();
    }
  };
  const reader = stream.getReader();
  const stop = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", stop, { once: true });
  try {
    while (!signal?.aborted) {
      const { value, done } = await reader.read();
      if (done) break;
      splitter.push(value);
      await handOver();
    }
    if (!signal?.aborted) {
      splitter.end();
      await handOver();
    }
  } finally {
    signal?.removeEventListener("abort", stop);
    reader.releaseLock();
  }
}
