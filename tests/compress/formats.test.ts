// Sparse formats: every encoding decodes to the same pattern; the chosen format is near the entropy bound.

import { chooseFormat, decodePositions, encodeIndex, entropyBoundBits, nonzeroPositions, SPARSE_FORMATS } from '../../host/compress/formats';
import { QMatrix } from '../../host/model/quant';
import { makeRng } from '../../host/util/rng';

/** A rows×cols int8 matrix with exactly `nnz` nonzeros at uniformly random positions. */
function randomPattern(rows: number, cols: number, nnz: number, seed: number, clustered = false): QMatrix {
  const rng = makeRng(seed);
  const values = new Int8Array(rows * cols);
  let placed = 0;
  while (placed < nnz) {
    // Clustered patterns leave long runs of zeros: escapes in the delta formats get exercised.
    const i = clustered ? Math.min(rows * cols - 1, Math.floor(rng.uniform() ** 3 * rows * cols)) : rng.int(rows * cols);
    if (values[i] === 0) {
      values[i] = 1 + rng.int(127);
      placed++;
    }
  }
  return { kind: 'dense', rows, cols, values, rowFrac: new Int8Array(rows) };
}

test.each([
  [1, 1, 1], [3, 7, 5], [16, 300, 400], [128, 128, 1638], [64, 32, 0], [40, 40, 1600], [1, 1000, 3],
])('every format round-trips a %i×%i pattern with %i nonzeros', (rows, cols, nnz) => {
  for (const clustered of [false, true]) {
    const m = randomPattern(rows, cols, nnz, rows * 31 + cols, clustered);
    const truth = Array.from(nonzeroPositions(m));
    for (const f of SPARSE_FORMATS) {
      if (f === 'csr8' && cols > 256) continue;
      const e = encodeIndex(m, f);
      const decoded = Array.from(decodePositions(e, rows, cols));
      if (f === 'dense') expect(decoded).toHaveLength(rows * cols);
      else expect(decoded).toEqual(truth);
    }
  }
});

test('entropy bound: log2 C(n, k) on hand-checkable cases', () => {
  expect(entropyBoundBits(4, 2)).toBeCloseTo(Math.log2(6), 12);
  expect(entropyBoundBits(10, 3)).toBeCloseTo(Math.log2(120), 12);
  expect(entropyBoundBits(10, 0)).toBe(0);
  // Stirling: log2 C(n, pn) ≈ n·H(p) − ½log2(2πnp(1−p)); n = 16384, p = 0.1 → 7,684 − 8.8 bits.
  const h = -(0.1 * Math.log2(0.1) + 0.9 * Math.log2(0.9));
  expect(entropyBoundBits(16384, 1638)).toBeCloseTo(16384 * h - 0.5 * Math.log2(2 * Math.PI * 16384 * 0.1 * 0.9) - 0.3, -1);
});

test('90%-sparse 128×128 uniform pattern: chosen format index ≤ 1.25 × the entropy bound', () => {
  const m = randomPattern(128, 128, 1638, 7);
  const chosen = chooseFormat(m);
  const boundBytes = entropyBoundBits(128 * 128, 1638) / 8;
  expect(chosen.format).toBe('delta4');
  expect(chosen.index.length).toBeLessThanOrEqual(1.25 * boundBytes);
  // The plain formats are far from it, which is why delta4 exists.
  expect(encodeIndex(m, 'csr8').index.length).toBeGreaterThan(1.9 * boundBytes);
  expect(encodeIndex(m, 'bitmap').index.length).toBe(2048);
});

test('dense wins for dense matrices, bitmap around 50% sparsity, delta formats when very sparse', () => {
  expect(chooseFormat(randomPattern(32, 32, 1024, 1)).format).toBe('dense');
  expect(chooseFormat(randomPattern(64, 64, 2048, 2)).format).toBe('bitmap');
  expect(['delta4', 'delta8']).toContain(chooseFormat(randomPattern(64, 64, 41, 3)).format);
});
