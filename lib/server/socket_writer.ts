// The outbox's Writer (outbox.ts) over a connection's TLS socket. node's
// socket.write never refuses bytes, it buffers them; the writer resolves at
// once while the socket holds less than SOCKET_BUFFER_BYTES, and otherwise
// waits for "drain", so what a slow reader costs stays bounded.
//
// The buffer is small on purpose. With 512 KiB (before issue 15's phase B2)
// a burst to 1000 receivers left each with up to half a megabyte encrypted
// and queued natively; the outbox gathers the next batch from the store
// when this one has gone instead, which costs nothing in speed because the
// turn budget (turn_budget.ts) paces the writes anyway.

import type { TLSSocket } from "node:tls";
import type { Writer } from "./outbox.ts";

/**
 * Bytes a connection's socket may buffer before a write waits for "drain"
 * (node's default high-water mark). A slow reader holds at most this, one
 * batch being written, and its outbox's `sendQueueBytes`.
 */
export const SOCKET_BUFFER_BYTES = 16 * 1024;

/** The outbox's Writer over a socket: resolves when the socket can take more. */
export function socketWriter(socket: TLSSocket): Writer {
  return {
    write(bytes: Uint8Array): Promise<number> {
      if (socket.destroyed) return Promise.reject(new Error("connection closed"));
      // Written through (or nearly): the next batch may follow at once.
      if (socket.write(bytes) || socket.writableLength < SOCKET_BUFFER_BYTES) {
        return Promise.resolve(bytes.length);
      }
      return new Promise((resolve, reject) => {
        const drained = () => {
          socket.off("close", closed);
          resolve(bytes.length);
        };
        const closed = () => {
          socket.off("drain", drained);
          reject(new Error("connection closed"));
        };
        socket.once("drain", drained);
        socket.once("close", closed);
      });
    },
  };
}
