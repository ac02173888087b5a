/**
 * The dashboard as a Reporter: serves the live run (from an in-memory ring
 * of its events) and the other runs in its runs folder, and announces its
 * URL with an `info` event.
 *
 * @module
 */
import type { EventBus } from "../../../core/events.ts";
import type { Dataset, Reporter } from "../../../core/interfaces.ts";
import type { PluginDef } from "../../../core/registry.ts";
import { LiveRun } from "./live_run.ts";
import { type RunningDashboard, startDashboard } from "./server.ts";

const schema = {
  host: {
    type: "string",
    default: "127.0.0.1",
    doc: "address to bind; any non-loopback address requires a token",
  },
  port: {
    type: "number",
    default: 8080,
    integer: true,
    min: 0,
    max: 65535,
    doc: "0 picks a free port",
  },
  token: {
    type: "string",
    default: "",
    doc:
      "required on every request when set; generated when binding beyond loopback",
  },
  runs: { type: "string", default: "runs", doc: "folder of runs to list" },
  run: {
    type: "string",
    default: "",
    doc: "name of the live run (default: the base name of run-start's runDir)",
  },
  buffer: {
    type: "number",
    default: 50_000,
    integer: true,
    min: 100,
    doc: "events kept in memory for the live run",
  },
} as const;

/** The dashboard reporter; `setDataset` lets the gallery show the live run's images. */
export interface DashboardReporter extends Reporter {
  setDataset(dataset: Dataset): void;
}

/** `dashboard`: a live web dashboard of the run (read-only, 127.0.0.1 by default). */
export const dashboardReporter: PluginDef<DashboardReporter, typeof schema> = {
  name: "dashboard",
  description: "live web dashboard of the run and the runs folder",
  options: schema,
  create(opts) {
    let live: LiveRun | undefined;
    let running: Promise<RunningDashboard | undefined> | undefined;
    let dataset: Dataset | undefined;
    return {
      setDataset(d: Dataset) {
        dataset = d;
      },
      name: "dashboard",
      attach(events: EventBus) {
        // the ring starts at once so run-start is kept; the server comes up in the background
        live = new LiveRun(events, opts.run || undefined, {
          capacity: opts.buffer,
        });
        running = startDashboard({
          runsDir: opts.runs,
          live,
          openDataset: (name) =>
            Promise.resolve(name === live?.name ? dataset : undefined),
          hostname: opts.host,
          port: opts.port,
          token: opts.token || undefined,
        }).then((d) => {
          events.emit({
            type: "info",
            message: `dashboard: ${d.url}` +
              (d.token && !opts.token ? ` (generated token ${d.token})` : ""),
          });
          return d;
        }, (err) => {
          live?.close();
          events.emit({
            type: "warning",
            message:
              `dashboard could not listen on ${opts.host}:${opts.port}: ${
                err instanceof Error ? err.message : err
              }; training goes on without it (set reporter option port: 0 for any free port)`,
          });
          return undefined;
        });
      },
      async close() {
        const d = await running;
        await d?.close();
        live?.close();
      },
    };
  },
};
