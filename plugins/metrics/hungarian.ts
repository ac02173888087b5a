/**
 * The Hungarian algorithm (Kuhn-Munkres) for the minimum-cost assignment,
 * used to match clusters to classes for clustering accuracy.
 *
 * @module
 */

/**
 * Minimum-cost assignment of rows to columns in O(m^3), m = max(rows, cols),
 * by the shortest-augmenting-path form with row and column potentials.
 * A rectangular matrix is padded with zero-cost dummy rows or columns.
 *
 * @param cost either `number[][]` (rows x cols) or a row-major
 *   `Float64Array` with `rows` rows (cols = length / rows).
 * @returns `rowToCol[i]`: the column given to row i, or -1 when there are
 *   more rows than columns and row i got a dummy column.
 *
 * @example
 * ```ts
 * hungarian([[4, 1], [2, 3]]); // Int32Array [1, 0], total cost 3
 * ```
 */
export function hungarian(
  cost: number[][] | Float64Array,
  rows?: number,
): Int32Array {
  let r: number;
  let c: number;
  let at: (i: number, j: number) => number;
  if (cost instanceof Float64Array) {
    r = rows ?? Math.round(Math.sqrt(cost.length));
    c = r === 0 ? 0 : cost.length / r;
    if (!Number.isInteger(c)) {
      throw new RangeError(
        `hungarian: a cost array of length ${cost.length} cannot have ${r} rows`,
      );
    }
    at = (i, j) => cost[i * c + j];
  } else {
    r = cost.length;
    c = r === 0 ? 0 : cost[0].length;
    at = (i, j) => cost[i][j];
  }
  const m = Math.max(r, c);
  const a = (i: number, j: number) => (i < r && j < c ? at(i, j) : 0);
  // 1-based arrays with a virtual column 0 that holds the row being added.
  const u = new Float64Array(m + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j]: row matched to column j (0 = none)
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= m; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = a(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    // Flip the augmenting path back to column 0.
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowToCol = new Int32Array(r).fill(-1);
  for (let j = 1; j <= m; j++) {
    const i = p[j] - 1;
    if (i < r && j - 1 < c) rowToCol[i] = j - 1;
  }
  return rowToCol;
}
