// Joining byte pieces: the outbox and the durable log both gather
// pieces and hand one buffer to a single write; `chat check` builds the
// frames it cuts and joins on purpose. And counting a text's UTF-8 bytes
// without encoding it: the protocol's limits are in bytes (§5).

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

/** The number of bytes `text` takes in UTF-8 (lone surrogates count as U+FFFD). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
