// Tab in the input line: completes the word before the cursor from the
// nicknames present (§10), or a command at the start of the line. A
// nickname that starts the line gets ": " after it (addressing someone, as
// in IRC), one after `/msg `, `/kick ` or `/ban ` gets a space. Case is ignored when matching,
// and the nickname is written as the server spells it.
//
// The answer is readline's completer answer: the candidates and the text
// they replace. One candidate replaces the word; several complete their
// common beginning, and a second Tab lists them (readline does both).

import { commandsFor } from "./commands.ts";

/** The most candidates offered; beyond it the word is too short to say much. */
export const MAX_COMPLETIONS = 200;

/**
 * The completions of `line` (the text before the cursor) from `names`.
 *
 * @example
 * ```ts
 * complete("ali", ["alice", "bob"]); // [["alice: "], "ali"]
 * complete("/msg B", ["alice", "bob"]); // [["bob "], "B"]
 * complete("see you, C", ["carol", "carl"]); // [["carol", "carl"], "C"]
 * ```
 */
export function complete(
  line: string,
  names: readonly string[],
  commands: readonly string[] = commandsFor(undefined),
): [string[], string] {
  const word = /\S*$/.exec(line)![0];
  if (word === "") return [[], word];
  const before = line.slice(0, line.length - word.length);
  if (before === "" && word.startsWith("/")) {
    return [commands.filter((command) => command.startsWith(word.toLowerCase())), word];
  }
  const suffix = before === "" ? ": " : /^\/(msg|kick|ban)\s+$/i.test(before) ? " " : "";
  const lower = word.toLowerCase();
  const found: string[] = [];
  for (const name of names) {
    if (!name.toLowerCase().startsWith(lower)) continue;
    found.push(name + suffix);
    if (found.length === MAX_COMPLETIONS) break;
  }
  return [found, word];
}
