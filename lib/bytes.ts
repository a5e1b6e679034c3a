// Joining byte pieces: the outbox and the durable log both gather
// pieces and hand one buffer to a single write; `chat check` builds the
// frames it cuts and joins on purpose.

/**
 * Joins `pieces` (of `total` bytes together, counted when not given) into
 * one buffer; a single piece is returned as it is, without a copy.
 *
 * @example
 * ```ts
 * concatBytes([Uint8Array.of(1), Uint8Array.of(2, 3)], 3); // Uint8Array [1, 2, 3]
 * concatBytes([Uint8Array.of(1), Uint8Array.of(2, 3)]); // the same, the total counted
 * ```
 */
export function concatBytes(
  pieces: readonly Uint8Array[],
  total = pieces.reduce((n, piece) => n + piece.length, 0),
): Uint8Array {
  if (pieces.length === 1) return pieces[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}
