// `chat identity`: prints the fingerprint of the client's identity (made
// first if there is none), which is what a person gives an operator to be
// invited or made an operator. Only the fingerprint goes to stdout, so
// `chat server --op "$(chat identity)"` works as it reads.

import { type CliContext, parseFlags } from "../cli.ts";
import { FatalError } from "../errors.ts";
import { chatConfigDir } from "./config_dir.ts";
import { IDENTITY_FILE, identityFromFlags } from "./identity.ts";

const USAGE = `Usage: chat identity [--identity FILE]

Prints the SHA-256 fingerprint of your identity, in the form
openssl x509 -fingerprint -sha256 prints it: give it to a server's
operator to be invited or made an operator. The identity is a key and a
self-signed certificate that \`chat client\` presents to every server that
asks; it is made on first use, in $XDG_CONFIG_HOME/chat/${IDENTITY_FILE}
(or ~/.config/chat/${IDENTITY_FILE}).

Options:
  --identity FILE  this identity file instead (made if it does not exist)
  -h, --help       show this help
`;

const FLAGS = {
  identity: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Runs `chat identity` with `args` (after the subcommand); resolves with
 * the exit code. A damaged identity file is a FatalError (exit 1).
 *
 * @example
 * ```ts
 * declare const context: import("../cli.ts").CliContext;
 * await runIdentity(["--identity", "/tmp/me.pem"], context); // prints "3F:0A:…", returns 0
 * ```
 */
export async function runIdentity(args: string[], context: CliContext): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    context.stdout(USAGE);
    return 0;
  }
  const file = typeof values.identity === "string" ? values.identity : undefined;
  const found = await identityFromFlags({ file }, chatConfigDir(context.env), new Date());
  if (found === undefined) {
    throw new FatalError(
      "no place for an identity: set HOME or XDG_CONFIG_HOME, or pass --identity FILE",
    );
  }
  if (found.created) context.stderr(`chat: made a new identity in ${found.identity.path}\n`);
  context.stdout(`${found.identity.fingerprint}\n`);
  return 0;
}
