/**
 * The in-memory side of a run being trained in this process: a bounded ring
 * of its events and the SSE clients following it. The EventBus listener only
 * copies a reference into the ring and into each client's queue, so a slow
 * or vanished browser never slows training.
 *
 * @module
 */
import { basename } from "node:path";
import type { EventBus, Stamped } from "../../../core/events.ts";

/** One SSE client's view: replayed events first, then live ones. */
export class Subscription {
  #queue: Stamped[];
  #pos = 0;
  #limit: number;
  #wake: (() => void) | undefined;
  #onClose: (() => void)[];
  /** True when the client fell more than the queue limit behind and was dropped. */
  overflowed = false;
  closed = false;

  constructor(replay: Stamped[], limit: number, onClose: () => void) {
    this.#queue = replay;
    // a reconnect may replay the whole ring; the limit bounds what piles up after it
    this.#limit = replay.length + limit;
    this.#onClose = [onClose];
  }

  /** Called from the bus listener: O(1), never awaits. */
  push(event: Stamped): void {
    if (this.closed) return;
    if (this.#queue.length - this.#pos >= this.#limit) {
      this.overflowed = true;
      this.close();
      return;
    }
    this.#queue.push(event);
    this.#wake?.();
  }

  /** The next event; `"idle"` after `idleMs` without one; undefined once closed. */
  async next(idleMs: number): Promise<Stamped | "idle" | undefined> {
    if (this.#queue.length === this.#pos && !this.closed) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, idleMs);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
    if (this.closed) return undefined;
    if (this.#pos === this.#queue.length) return "idle";
    const event = this.#queue[this.#pos++];
    if (this.#pos > 1024 && this.#pos * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#pos);
      this.#pos = 0;
    }
    return event;
  }

  /** Stops delivery and frees the queue. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#queue = [];
    this.#pos = 0;
    this.#wake?.();
    for (const fn of this.#onClose) fn();
  }

  /** Runs `fn` when the subscription closes (e.g. to abort a stream stuck writing to a client that stopped reading). */
  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.#onClose.push(fn);
  }
}

/** Options of a {@linkcode LiveRun}. */
export interface LiveRunOptions {
  /** Events kept for replay (default 50,000); older ones are only in events.jsonl. */
  capacity?: number;
  /** Events one client may fall behind before it is dropped (default 10,000). */
  clientQueue?: number;
}

/**
 * A run in progress in this process. Its name is given, or taken from the
 * `run-start` event's `runDir` (its base name), which also says where its
 * files are.
 */
export class LiveRun {
  #ring: (Stamped | undefined)[];
  #head = 0;
  #count = 0;
  #subs = new Set<Subscription>();
  #off: () => void;
  #clientQueue: number;
  #name: string | undefined;
  #runDir: string | undefined;
  #ended = false;

  constructor(
    events: EventBus,
    runName?: string,
    options: LiveRunOptions = {},
  ) {
    this.#ring = new Array(options.capacity ?? 50_000);
    this.#clientQueue = options.clientQueue ?? 10_000;
    this.#name = runName;
    this.#off = events.on((event) => this.#receive(event));
  }

  #receive(event: Stamped): void {
    if (event.type === "run-start") {
      this.#runDir = event.runDir;
      this.#name ??= basename(event.runDir);
    }
    if (event.type === "run-end") this.#ended = true;
    const cap = this.#ring.length;
    this.#ring[(this.#head + this.#count) % cap] = event;
    if (this.#count < cap) this.#count++;
    else this.#head = (this.#head + 1) % cap;
    for (const sub of this.#subs) sub.push(event);
  }

  /** The run's name, once known. */
  get name(): string | undefined {
    return this.#name;
  }

  /** The run folder named by `run-start`, if seen. */
  get runDir(): string | undefined {
    return this.#runDir;
  }

  /** True once `run-end` was seen. */
  get ended(): boolean {
    return this.#ended;
  }

  /** SSE clients currently following. */
  get subscribers(): number {
    return this.#subs.size;
  }

  /** Events held in memory. */
  get buffered(): number {
    return this.#count;
  }

  /** The seq of the oldest event held, or undefined when empty. */
  get oldestSeq(): number | undefined {
    return this.#count ? this.#ring[this.#head]!.seq : undefined;
  }

  /** Buffered events with seq > `after`, oldest first. */
  events(after = 0): Stamped[] {
    const out: Stamped[] = [];
    const cap = this.#ring.length;
    for (let i = 0; i < this.#count; i++) {
      const e = this.#ring[(this.#head + i) % cap]!;
      if (e.seq > after) out.push(e);
    }
    return out;
  }

  /**
   * Follows the run from seq `after`: the buffered events after it, then
   * every new one. Both are taken in the same synchronous step, so nothing
   * is missed or sent twice.
   */
  subscribe(after: number): Subscription {
    const sub = new Subscription(
      this.events(after),
      this.#clientQueue,
      () => this.#subs.delete(sub),
    );
    this.#subs.add(sub);
    return sub;
  }

  /** Stops listening to the bus and ends every client. */
  close(): void {
    this.#off();
    for (const sub of [...this.#subs]) sub.close();
  }
}
