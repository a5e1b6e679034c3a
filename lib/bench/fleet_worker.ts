// A fleet (lib/bench/fleet.ts) in a Web Worker, for `chat bench --workers K`:
// its own thread, V8 heap and event loop, so its clients' TLS decryption,
// reads and garbage collection run beside the other fleets' instead of
// queueing behind them. The run talks to it through WorkerFleet, which has
// the same methods as a Fleet; the Worker pushes its status every tick and
// with every answer, and sends its report (the latency histogram as plain
// data) at the end.
//
// This module is both sides: imported, it gives WorkerFleet; started as a
// Worker's main module, it serves one Fleet. Being part of the static import
// graph of main.ts, a `deno compile`d binary should carry it without --include
// (not tried: the runtime download needs a network this machine lacks).

import { clientDialer, type DialSpec } from "./dial.ts";
import { Fleet } from "./fleet.ts";
import {
  type FleetReport,
  type FleetStatus,
  idleStatus,
  type LoadOptions,
  microseconds,
} from "./run_shape.ts";
import { errorMessage } from "../errors.ts";

/** How often a Worker sends its status when it changed. */
export const STATUS_INTERVAL_MS = 5;

/** What the run needs of a fleet, in this thread or a Worker. */
export interface FleetHandle {
  /** The latest status (a Worker's is at most one tick old). */
  status(): FleetStatus;
  connect(): Promise<void>;
  write(index: number, text: string, progress?: boolean): Promise<boolean>;
  barrierDone(): void;
  send(startUs: number): Promise<void>;
  stop(): void;
  report(): FleetReport | Promise<FleetReport>;
  close(concurrency: number): Promise<void>;
}

type Request =
  | {
    op: "init";
    options: LoadOptions;
    runId: string;
    hosted: number[];
    spec: DialSpec;
    concurrency: number;
    epochUs: number;
  }
  | { op: "connect" }
  | { op: "write"; index: number; text: string; progress: boolean }
  | { op: "barrierDone" }
  | { op: "send"; startUs: number }
  | { op: "stop" }
  | { op: "report" }
  | { op: "close"; concurrency: number };

type Reply =
  | { id: number; value?: unknown; error?: string; status?: FleetStatus }
  | { status: FleetStatus };

/**
 * The clients `hosted` of a run, served by a Worker of their own.
 *
 * @example
 * ```ts
 * import type { DialSpec } from "./dial.ts";
 * import type { LoadOptions } from "./run_shape.ts";
 *
 * declare const options: LoadOptions, spec: DialSpec;
 * const fleet = await WorkerFleet.start(options, "k3j2h1x9", [1, 3, 5], spec, 25);
 * await fleet.connect();
 * fleet.status().loggedIn; // 3, at most one tick later
 * await fleet.close(500);
 * ```
 */
export class WorkerFleet implements FleetHandle {
  readonly #worker: Worker;
  readonly #pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  #next = 1;
  #status: FleetStatus = idleStatus();
  /** Why the Worker itself failed (an uncaught error), when it did. */
  #broken: string | undefined;

  private constructor() {
    this.#worker = new Worker(import.meta.url, { type: "module", name: "chat bench fleet" });
    this.#worker.onmessage = (event: MessageEvent<Reply>) => {
      const reply = event.data;
      if (reply.status !== undefined) this.#status = reply.status;
      if (!("id" in reply)) return;
      const waiting = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.error !== undefined) waiting?.reject(new Error(reply.error));
      else waiting?.resolve(reply.value);
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#breaks(`a Worker of the run failed: ${event.message}`);
    };
    this.#worker.onmessageerror = () => this.#breaks("a Worker's message could not be read");
  }

  /** Starts a Worker hosting clients `hosted` of a run whose epoch is `epochUs` ({@linkcode Fleet}). */
  static async start(
    options: LoadOptions,
    runId: string,
    hosted: number[],
    spec: DialSpec,
    concurrency: number,
    epochUs = 0,
  ): Promise<WorkerFleet> {
    const fleet = new WorkerFleet();
    try {
      await fleet.#call({ op: "init", options, runId, hosted, spec, concurrency, epochUs });
    } catch (error) {
      fleet.#worker.terminate();
      throw error;
    }
    return fleet;
  }

  #breaks(reason: string): void {
    this.#broken ??= reason;
    for (const waiting of this.#pending.values()) waiting.reject(new Error(reason));
    this.#pending.clear();
  }

  #call(request: Request): Promise<unknown> {
    if (this.#broken !== undefined) return Promise.reject(new Error(this.#broken));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, ...request });
    });
  }

  status(): FleetStatus {
    if (this.#broken === undefined || this.#status.failure !== undefined) return this.#status;
    return { ...this.#status, failure: this.#broken };
  }

  async connect(): Promise<void> {
    await this.#settled({ op: "connect" });
  }

  async write(index: number, text: string, progress = true): Promise<boolean> {
    return await this.#settled({ op: "write", index, text, progress }) === true;
  }

  barrierDone(): void {
    this.#settled({ op: "barrierDone" });
  }

  async send(startUs: number): Promise<void> {
    await this.#settled({ op: "send", startUs });
  }

  stop(): void {
    this.#settled({ op: "stop" });
  }

  async report(): Promise<FleetReport> {
    return await this.#call({ op: "report" }) as FleetReport;
  }

  /** Closes the Worker's connections, then the Worker. */
  async close(concurrency: number): Promise<void> {
    await this.#settled({ op: "close", concurrency });
    this.#worker.terminate();
  }

  /** A call whose failure is the Worker's failure, reported through status(). */
  async #settled(request: Request): Promise<unknown> {
    try {
      return await this.#call(request);
    } catch (error) {
      this.#breaks(errorMessage(error));
      return undefined;
    }
  }
}

/** Serves one Fleet in this Worker: its requests, and its status every tick. */
function serve(scope: {
  postMessage(message: Reply): void;
  onmessage: ((event: MessageEvent<{ id: number } & Request>) => void) | null;
}): void {
  let fleet: Fleet | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let last = "";
  const post = (reply: Reply) => scope.postMessage(reply);
  const tick = () => {
    if (fleet === undefined) return;
    const status = fleet.status();
    const key = JSON.stringify(status);
    if (key === last) return;
    last = key;
    post({ status });
  };
  const handle = async (request: Request): Promise<unknown> => {
    if (request.op === "init") {
      fleet = new Fleet(
        request.options,
        request.runId,
        request.hosted,
        clientDialer(request.spec),
        microseconds,
        request.concurrency,
        request.epochUs,
      );
      ticker = setInterval(tick, STATUS_INTERVAL_MS);
      return undefined;
    }
    if (fleet === undefined) throw new Error(`${request.op} before init`);
    switch (request.op) {
      case "connect":
        return await fleet.connect();
      case "write":
        return await fleet.write(request.index, request.text, request.progress);
      case "barrierDone":
        return fleet.barrierDone();
      case "send":
        return await fleet.send(request.startUs);
      case "stop":
        return fleet.stop();
      case "report":
        return fleet.report();
      case "close":
        clearInterval(ticker);
        return await fleet.close(request.concurrency);
    }
  };
  scope.onmessage = (event) => {
    const { id, ...request } = event.data;
    handle(request as Request).then(
      (value) => post({ id, value, status: fleet?.status() }),
      (error) => post({ id, error: errorMessage(error) }),
    );
  };
}

const WorkerScope = (globalThis as { WorkerGlobalScope?: new () => unknown }).WorkerGlobalScope;
if (import.meta.main && WorkerScope !== undefined && globalThis instanceof WorkerScope) {
  serve(globalThis as unknown as Parameters<typeof serve>[0]);
}
