// The outbox's Writer (outbox.ts) over a connection's TLS socket. node's
// socket.write never refuses bytes, it buffers them; the writer lets the
// socket buffer up to SOCKET_BUFFER_BYTES (so the outbox gathers its next
// batch while this one is sent) and then waits for "drain", so what a slow
// reader costs stays bounded.

import type { TLSSocket } from "node:tls";
import type { Writer } from "./outbox.ts";

/**
 * Bytes a connection's socket may buffer beyond what the outbox still holds;
 * together with `sendQueueBytes` this bounds a slow reader's memory.
 */
export const SOCKET_BUFFER_BYTES = 512 * 1024;

/** The outbox's Writer over a socket: resolves when the socket can take more. */
export function socketWriter(socket: TLSSocket): Writer {
  return {
    write(bytes: Uint8Array): Promise<number> {
      if (socket.destroyed) return Promise.reject(new Error("connection closed"));
      // Keep up to SOCKET_BUFFER_BYTES in the socket's own buffer, so the
      // next batch is gathered while this one is still being sent.
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
