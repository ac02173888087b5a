/**
 * Config overrides shared by the tests that train for real: a run on 100
 * embedded Fashion-MNIST images that takes seconds.
 *
 * @module
 */

/** Overrides that make a real run on 100 Fashion-MNIST images take seconds. */
export const TINY = [
  "backend=native",
  "dataset.options.limit=100",
  "model.backbone.options.width=0.125",
  "model.instance_head.options.hidden=32",
  "model.cluster_head.options.hidden=32",
  "representation.batch_size=50",
  "clustering.batch_size=50",
  "clustering.heads=2",
  "mine.k=5",
  "baseline.max_points=100",
  "baseline.restarts=1",
];
