// Deno's own cache for the `chat` processes the tests start. A test that
// gives a child a temporary HOME (so that nothing reaches the real home's
// config) also moved the child's module cache, when DENO_DIR is not set:
// Deno then looks for the npm packages under the empty HOME's
// ~/.cache/deno and fetches them again (seconds under load, and a failure
// offline). Every such child gets the cache of this run instead.

let cached: string | undefined;

/**
 * The module cache of this run: DENO_DIR when set, else where `deno info`
 * says it is (asked once per process).
 *
 * @example
 * ```ts
 * denoDir(); // "/root/.cache/deno"
 * ```
 */
export function denoDir(): string {
  cached ??= Deno.env.get("DENO_DIR") || JSON.parse(
    new TextDecoder().decode(
      new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "null" })
        .outputSync().stdout,
    ),
  ).denoDir as string;
  return cached;
}

/**
 * `env` with DENO_DIR set to {@linkcode denoDir}: the environment for a
 * child `chat` with a HOME of its own.
 *
 * @example
 * ```ts
 * const env = withDenoDir({ HOME: "/tmp/home", XDG_CONFIG_HOME: "/tmp/home" });
 * ```
 */
export function withDenoDir<T extends Record<string, string>>(env: T): T & { DENO_DIR: string } {
  return { ...env, DENO_DIR: denoDir() };
}
