// Page-side functions are serialised into the browser and reach the DOM and
// Chart.js through an untyped globalThis (this file is not checked against the DOM).
// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import { join } from "node:path";
import { EventBus } from "../core/events.ts";
import { startDashboard } from "../plugins/reporters/dashboard/server.ts";
import { writeRun } from "./dashboard_fixtures.ts";
import type { Dataset } from "../core/interfaces.ts";
import {
  buildPlugins,
  bundledRegistries,
  resolveConfig,
  runPipeline,
  VERSION,
} from "../mod.ts";
import { TINY } from "./tiny.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!hasChromium) {
  console.warn(
    `skipping the dashboard browser test: ${CHROMIUM} is missing (apt-get install chromium)`,
  );
}

/**
 * Trains a real tiny run (60 embedded Fashion-MNIST images) on `bus`, in
 * this process, writing its run folder under `runsDir`; the dataset is
 * handed to the dashboard for the gallery as soon as it is loaded.
 */
async function startRun(
  bus: EventBus,
  runsDir: string,
  name: string,
  onDataset: (d: Dataset) => void,
) {
  const config = resolveConfig({
    sets: [
      ...TINY,
      "dataset.options.limit=60",
      "representation.batch_size=20",
      "clustering.batch_size=20",
      "representation.epochs=3",
      "clustering.epochs=2",
      "baseline.max_points=60",
    ],
  });
  await runPipeline({
    config,
    plugins: buildPlugins(config, bundledRegistries()),
    events: bus,
    runDir: join(runsDir, name),
    version: VERSION,
    onDataset,
  });
}

Deno.test({
  name:
    "the page follows a live run in Chromium: loss chart, gallery, metrics, neighbours and map",
  ignore: !hasChromium,
  // playwright keeps its pipe to the browser and timers past the test's own awaits
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { chromium } = await import("playwright-core");
    const runsDir = await Deno.makeTempDir({ prefix: "clknn_dash_browser_" });
    await writeRun(runsDir, "earlier-run", {
      n: 60,
      seed: 3,
      config: { seed: 3 },
    });
    const bus = new EventBus();
    let liveDataset: Dataset | undefined;
    const dash = await startDashboard({
      runsDir,
      live: { runName: "live-run", events: bus },
      openDataset: (name) =>
        Promise.resolve(name === "live-run" ? liveDataset : undefined),
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    });
    const problems: string[] = [];
    try {
      const page = await browser.newPage({
        viewport: { width: 1400, height: 1000 },
      });
      page.on("console", (m) => {
        // failed loads are judged by the response handler below
        if (
          m.type() === "error" &&
          !m.text().startsWith("Failed to load resource")
        ) {
          problems.push(m.text());
        }
      });
      page.on("response", (r) => {
        // before the run ends its outputs are not written yet: 404 is the answer then
        const notYet = r.status() === 404 &&
          /\/api\/runs\/live-run\/(clusters|confusion|gallery|map)(\?|$)/.test(
            r.url(),
          );
        if (r.status() >= 400 && !notYet) {
          problems.push(`${r.status()} ${r.url()}`);
        }
      });
      page.on("pageerror", (e) => problems.push(String(e)));
      page.on("request", (r) => {
        if (!r.url().startsWith(dash.url.replace(/\/$/, ""))) {
          problems.push(`outside request ${r.url()}`);
        }
      });
      const training = startRun(bus, runsDir, "live-run", (d) => {
        liveDataset = d;
      });
      await page.goto(dash.url);

      // live: the loss chart gets points from at least two steps
      await page.waitForFunction(
        () => {
          const chart = (globalThis as any).Chart?.getChart("loss-chart");
          return (chart?.data.datasets[0]?.data.length ?? 0) >= 2;
        },
        undefined,
        { timeout: 15_000 },
      );
      const lossLabels = () =>
        page.evaluate(() =>
          (globalThis as any).Chart.getChart("loss-chart").data.datasets.map((
            d: { label: string },
          ) => d.label)
        );
      // whichever phase is live by now, its loss is split into its terms
      assert.ok(
        [
          "loss,instance,cluster,entropy",
          "loss,consistency,entropy",
        ].includes(String(await lossLabels())),
        String(await lossLabels()),
      );

      await training;
      await page.locator("#phase-tabs button", { hasText: "representation" })
        .click();
      await page.waitForFunction(
        () =>
          (globalThis as any).Chart.getChart("loss-chart").data.datasets[0]
            .data.length === 9,
        undefined,
        { timeout: 10_000 },
      );
      assert.deepEqual(await lossLabels(), [
        "loss",
        "instance",
        "cluster",
        "entropy",
      ]);
      // after run-end: the gallery shows decoded images and the metrics table numbers
      // page functions are serialised, so they reach the DOM through globalThis
      await page.waitForFunction(
        () =>
          [...(globalThis as any).document.querySelectorAll("#gallery img")]
            .filter((i: { complete: boolean; naturalWidth: number }) =>
              i.complete && i.naturalWidth > 0
            )
            .length >= 6,
        undefined,
        { timeout: 15_000 },
      );
      const metricCells = await page.locator("#metrics-table td")
        .allTextContents();
      assert.ok(
        metricCells.filter((t) => /^\d\.\d{3}$/.test(t)).length >= 6,
        metricCells.join("|"),
      );
      assert.equal(await page.locator("#connection").textContent(), "finished");
      const runsRows = await page.locator("#runs-table tr").count();
      assert.equal(runsRows, 3);

      await page.locator("#gallery img").first().click();
      await page.waitForFunction(
        () =>
          (globalThis as any).document.querySelectorAll("#neighbours img")
            .length >= 6,
        undefined,
        {
          timeout: 10_000,
        },
      );
      await page.waitForFunction(
        () => {
          const chart = (globalThis as any).Chart?.getChart("map-chart");
          return (chart?.data.datasets.length ?? 0) >= 3;
        },
        undefined,
        { timeout: 20_000 },
      );
      await page.locator("#map-by-label").click();

      await Deno.mkdir("tests/artifacts", { recursive: true });
      await page.screenshot({
        path: "tests/artifacts/dashboard.png",
        fullPage: true,
      });
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await dash.close();
      await Deno.remove(runsDir, { recursive: true });
    }
  },
});
