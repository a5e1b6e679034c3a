// Where the client keeps its files (the pinned certificates, its identity):
// $XDG_CONFIG_HOME/chat, or ~/.config/chat without it. The environment is
// read through the caller's `env` (main.ts owns Deno.env), so tests point it
// at a temp dir.

import { join } from "node:path";

/**
 * The client's config folder, or undefined when neither XDG_CONFIG_HOME nor
 * HOME is set (the client then keeps nothing on disk).
 *
 * @example
 * ```ts
 * chatConfigDir((name) => ({ HOME: "/home/me" } as Record<string, string>)[name]);
 * // "/home/me/.config/chat"
 * ```
 */
export function chatConfigDir(env: (name: string) => string | undefined): string | undefined {
  const xdg = env("XDG_CONFIG_HOME");
  if (xdg) return join(xdg, "chat");
  const home = env("HOME");
  return home ? join(home, ".config", "chat") : undefined;
}
