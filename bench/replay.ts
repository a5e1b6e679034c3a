// The replay figures of the harness: fill a server's history fast, then time
// how long one new client takes to receive all of it, and at what MB/s.
//
// The filler coalesces its frames into large writes and asks for an ack of
// its last message (PROTOCOL.md §8, the `id` extension: our server acks once
// the message is stored, and a connection's frames are stored in order), so
// the timed replay starts only when the whole history is in place. The ack's
// id is the run's barrier token, which lib/bench/receiver.ts already finds.

import { withDeadline } from "../lib/deadline.ts";
import { encodeLogin, encodeSend } from "../lib/protocol.ts";
import type { BenchConn, Dialer } from "../lib/bench/dial.ts";
import { microseconds } from "../lib/bench/run_shape.ts";
import {
  markerOf,
  messageText,
  nicknameOf,
  runId as newRunId,
  syncText,
} from "../lib/bench/payload.ts";
import { Receiver, type ReceiverEvents } from "../lib/bench/receiver.ts";

/** Bytes of frames the filler puts into one write. */
export const FILL_BATCH_BYTES = 64 * 1024;
/** How often a wait checks its condition. */
const TICK_MS = 10;

/** A filled history: the run id its messages carry and how many there are. */
export interface History {
  runId: string;
  messages: number;
  /** How long the fill took, until the last message was stored. */
  seconds: number;
}

/** One new client's full replay. */
export interface ReplayTiming {
  messages: number;
  /** Bytes received: the login answer and the replay. */
  bytes: number;
  /** From sending the login to receiving the last stored message. */
  seconds: number;
  megabytesPerSecond: number;
}

/** One logged-in connection and what it has seen. */
interface Client {
  conn: BenchConn;
  receiver: Receiver;
  state: {
    loggedIn: boolean;
    refused?: string;
    tokens: number;
    acked: boolean;
    closed?: string;
    lastUs: number;
  };
}

/**
 * Stores `messages` messages of `size` bytes through one connection, as
 * fast as the server takes them. Fails after `idleTimeoutMs` without an answer.
 */
export async function fillHistory(
  dial: Dialer,
  messages: number,
  size: number,
  idleTimeoutMs: number,
): Promise<History> {
  const id = newRunId();
  const marker = markerOf(id);
  const started = performance.now();
  const filler = await login(dial, id, 0, idleTimeoutMs);
  try {
    const encoder = new TextEncoder();
    let batch = "";
    for (let seq = 0; seq < messages; seq++) {
      const text = messageText(marker, 0, seq, microseconds(), size);
      batch += seq === messages - 1 ? encodeSend(text, syncText(marker, 0)) : encodeSend(text);
      if (batch.length >= FILL_BATCH_BYTES || seq === messages - 1) {
        await filler.conn.write(encoder.encode(batch));
        batch = "";
      }
    }
    await waitFor(filler, () => filler.state.acked, "the ack of the last message", idleTimeoutMs);
    return { runId: id, messages, seconds: (performance.now() - started) / 1000 };
  } finally {
    await filler.conn.close();
  }
}

/**
 * Logs in one new client (number `index` of the history's run, so each call
 * gets its own nickname) and times its replay of the whole history.
 */
export async function timeReplay(
  dial: Dialer,
  history: History,
  index: number,
  idleTimeoutMs: number,
): Promise<ReplayTiming> {
  let sentUs = 0;
  const client = await login(
    dial,
    history.runId,
    index,
    idleTimeoutMs,
    () => sentUs = microseconds(),
  );
  try {
    await waitFor(
      client,
      () => client.state.tokens >= history.messages,
      `the replay (${client.state.tokens} of ${history.messages} messages so far)`,
      idleTimeoutMs,
    );
    const seconds = (client.state.lastUs - sentUs) / 1e6;
    const bytes = client.receiver.bytes;
    return {
      messages: client.state.tokens,
      bytes,
      seconds,
      megabytesPerSecond: bytes / 1e6 / seconds,
    };
  } finally {
    await client.conn.close();
  }
}

async function login(
  dial: Dialer,
  id: string,
  index: number,
  idleTimeoutMs: number,
  beforeLogin?: () => void,
): Promise<Client> {
  const state: Client["state"] = { loggedIn: false, tokens: 0, acked: false, lastUs: 0 };
  const events: ReceiverEvents = {
    loggedIn: () => state.loggedIn = true,
    refused: (_, reason) => state.refused = reason,
    token: (_client, _sender, _seq, _sentUs, nowUs) => {
      state.tokens++;
      state.lastUs = nowUs;
    },
    sync: () => state.acked = true,
  };
  const receiver = new Receiver(index, id, true, events);
  const connecting = dial({
    data: (chunk) => receiver.push(chunk, microseconds()),
    closed: (reason) => state.closed = reason ?? "closed",
  });
  const conn = await withDeadline(connecting, idleTimeoutMs);
  if (conn === undefined) {
    connecting.then((late) => late.close(), () => {});
    throw new Error(`no TLS connection within ${idleTimeoutMs / 1000} s`);
  }
  const client = { conn, receiver, state };
  try {
    beforeLogin?.();
    await conn.write(new TextEncoder().encode(encodeLogin(nicknameOf(id, index))));
    await waitFor(client, () => state.loggedIn, "the login answer", idleTimeoutMs);
  } catch (error) {
    await conn.close();
    throw error;
  }
  return client;
}

/** Waits until `done()`; throws when the client fails or nothing arrives for `idleTimeoutMs`. */
async function waitFor(
  client: Client,
  done: () => boolean,
  what: string,
  idleTimeoutMs: number,
): Promise<void> {
  let bytes = client.receiver.bytes;
  let quietSince = performance.now();
  while (!done()) {
    if (client.state.refused !== undefined) {
      throw new Error(`login refused: ${client.state.refused}`);
    }
    if (client.state.closed !== undefined) {
      throw new Error(`disconnected while waiting for ${what}: ${client.state.closed}`);
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
    if (client.receiver.bytes !== bytes) {
      bytes = client.receiver.bytes;
      quietSince = performance.now();
    } else if (performance.now() - quietSince > idleTimeoutMs) {
      throw new Error(`nothing arrived for ${idleTimeoutMs / 1000} s while waiting for ${what}`);
    }
  }
}
