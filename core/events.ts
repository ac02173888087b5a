/**
 * The typed event stream. Core code never prints: it emits these, and the
 * terminal reporter, the JSONL log and the dashboard subscribe.
 *
 * @module
 */

/** The phases of a run, in order. */
export type Phase =
  | "data"
  | "baseline"
  | "representation"
  | "mine"
  | "clustering"
  | "selflabel"
  | "evaluate";

/** Accuracy, normalised mutual information and adjusted Rand index, in [0, 1]. */
export interface Scores {
  acc: number;
  nmi: number;
  ari: number;
}

/** Everything core can tell a subscriber. */
export type ClknnEvent =
  | {
    type: "run-start";
    runDir: string;
    config: unknown;
    backend: string;
    version: string;
    resumed: boolean;
  }
  | {
    type: "phase-start";
    phase: Phase;
    epochs?: number;
    stepsPerEpoch?: number;
    startEpoch?: number;
  }
  | {
    type: "phase-end";
    phase: Phase;
    seconds: number;
    scores?: Scores;
  }
  | {
    type: "step";
    phase: Phase;
    epoch: number;
    epochs: number;
    step: number;
    stepsPerEpoch: number;
    loss: number;
    terms: Record<string, number>;
    lr: number;
    imagesPerSecond: number;
  }
  | {
    type: "epoch";
    phase: Phase;
    epoch: number;
    epochs: number;
    loss: number;
    terms: Record<string, number>;
    seconds: number;
    scores?: Scores;
    clusterSizes?: number[];
  }
  | { type: "checkpoint"; phase: Phase; epoch: number; path: string }
  | {
    type: "neighbours";
    k: number;
    purity?: number;
    seconds: number;
  }
  | {
    type: "progress";
    phase: Phase;
    label: string;
    done: number;
    total: number;
    unit: string;
  }
  | { type: "info"; message: string }
  | { type: "warning"; message: string }
  | { type: "run-end"; seconds: number; metrics: unknown };

/** An event as delivered: with a sequence number and a timestamp. */
export type Stamped = ClknnEvent & { seq: number; time: string };

/** A listener; it must return quickly and never throw into training. */
export type Listener = (event: Stamped) => void;

/** Synchronous fan-out of events to listeners. */
export class EventBus {
  #listeners = new Set<Listener>();
  #seq = 0;
  #errors: unknown[] = [];

  /** Subscribes; returns a function that unsubscribes. */
  on(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Delivers an event to every listener. A throwing listener is recorded, not propagated. */
  emit(event: ClknnEvent): void {
    const stamped = {
      ...event,
      seq: ++this.#seq,
      time: new Date().toISOString(),
    } as Stamped;
    for (const listener of this.#listeners) {
      try {
        listener(stamped);
      } catch (err) {
        this.#errors.push(err);
      }
    }
  }

  /** Errors thrown by listeners so far (a reporter's bug must not stop training). */
  listenerErrors(): readonly unknown[] {
    return this.#errors;
  }
}
