// Magnitude pruning: counts per distribution, the kept entries are the largest, shared complex patterns.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pruneModel } from '../../host/compress/prune';
import { parseModel, serializeModel, toDense } from '../../host/model/model';
import { randomModel } from '../../host/model/random';
import { Matrix, Model } from '../../host/model/types';
import { runFloat } from '../../host/reference/float';
import { SparrowError } from '../../host/util/errors';

const base = (): Model => randomModel({ d_in: 3, d_model: 24, d_state: 16, d_out: 5, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sparsity: 0, seed: 77 });
const pattern = (m: Matrix): boolean[] => Array.from(toDense(m).values, (v) => v !== 0);
const keptMask = (m: Matrix): boolean[] => {
  const mask = new Array<boolean>(m.rows * m.cols).fill(false);
  if (m.kind === 'csr') for (let r = 0; r < m.rows; r++) for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) mask[r * m.cols + m.indices[k]] = true;
  else mask.fill(true);
  return mask;
};

test('uniform: every matrix keeps round((1 − S)·entries); the kept entries are exactly the largest magnitudes', () => {
  const m = base();
  const { model, report } = pruneModel(m, { sparsity: 0.8, distribution: 'uniform' });
  for (const r of report.matrices) expect(r.kept).toBe(Math.round(0.2 * r.entries));
  // Independent check on B of layer 1: sort complex magnitudes ourselves.
  const re = toDense(m.layers[1].B_re).values;
  const im = toDense(m.layers[1].B_im).values;
  const mags = Array.from(re, (v, i) => Math.hypot(v, im[i]));
  const threshold = [...mags].sort((a, b) => b - a)[Math.round(0.2 * mags.length) - 1];
  const mask = keptMask(model.layers[1].B_re);
  mags.forEach((mag, i) => expect(mask[i]).toBe(mag >= threshold));
  // re and im share one pattern.
  expect(keptMask(model.layers[1].B_im)).toEqual(mask);
  expect(keptMask(model.layers[0].C_im)).toEqual(keptMask(model.layers[0].C_re));
});

test('global: one threshold over all matrices reaches the total sparsity', () => {
  const { model, report } = pruneModel(base(), { sparsity: 0.9, distribution: 'global' });
  const total = report.matrices.reduce((a, r) => a + r.entries, 0);
  const kept = report.matrices.reduce((a, r) => a + r.kept, 0);
  expect(kept).toBe(Math.round(0.1 * total));
  // The smallest kept magnitude anywhere ≥ the largest pruned magnitude anywhere.
  let minKept = Infinity;
  let maxPruned = 0;
  const check = (ms: Matrix[], orig: Matrix[]): void => {
    const mask = keptMask(ms[0]);
    const dense = orig.map((o) => toDense(o).values);
    mask.forEach((k, i) => {
      const mag = Math.sqrt(dense.reduce((a, d) => a + d[i] * d[i], 0));
      if (k) minKept = Math.min(minKept, mag);
      else maxPruned = Math.max(maxPruned, mag);
    });
  };
  const b = base();
  check([model.encoderWeight], [b.encoderWeight]);
  model.layers.forEach((L, i) => {
    check([L.B_re, L.B_im], [b.layers[i].B_re, b.layers[i].B_im]);
    check([L.C_re, L.C_im], [b.layers[i].C_re, b.layers[i].C_im]);
    check([L.gateWeight!], [b.layers[i].gateWeight!]);
  });
  check([model.decoderWeight], [b.decoderWeight]);
  expect(minKept).toBeGreaterThanOrEqual(maxPruned);
});

test('erk: densities ∝ (rows + cols)/(rows·cols), total budget met, small matrices kept dense', () => {
  const { report } = pruneModel(base(), { sparsity: 0.9, distribution: 'erk' });
  const total = report.matrices.reduce((a, r) => a + r.entries, 0);
  const kept = report.matrices.reduce((a, r) => a + r.kept, 0);
  expect(Math.abs(kept - 0.1 * total)).toBeLessThanOrEqual(report.matrices.length);
  const sparse = report.matrices.filter((r) => r.kept < r.entries);
  const ratio = (r: (typeof sparse)[number]): number => r.kept / r.entries / ((r.shape[0] + r.shape[1]) / (r.shape[0] * r.shape[1]));
  for (const r of sparse) expect(ratio(r)).toBeCloseTo(ratio(sparse[0]), 1);
  // Small matrices get the highest density: encoder [24, 3] has (24+3)/72 = 0.375 vs B's 40/384.
  const density = (name: string): number => 1 - report.matrices.find((r) => r.name === name)!.sparsity;
  expect(density('encoder.weight')).toBeGreaterThan(density('layers.0.ssm.B'));
  // At 50%: ε = 0.5·2880/312 ≈ 4.6, so ε·0.375 > 1 and ε·29/120 > 1: encoder and decoder stay dense.
  const half = pruneModel(base(), { sparsity: 0.5, distribution: 'erk' }).report;
  expect(half.matrices.find((r) => r.name === 'encoder.weight')!.kept).toBe(72);
  expect(half.matrices.find((r) => r.name === 'decoder.weight')!.kept).toBe(120);
  expect(Math.abs(half.matrices.reduce((a, r) => a + r.kept, 0) - 1440)).toBeLessThanOrEqual(half.matrices.length);
});

test('Λ, D, norm and biases are untouched; the pruned model round-trips and runs', () => {
  const m = base();
  const { model } = pruneModel(m, { sparsity: 0.95, distribution: 'erk' });
  m.layers.forEach((L, i) => {
    for (const k of ['lambdaRe', 'lambdaIm', 'D', 'normScale', 'normShift', 'gateBias'] as const) expect(Array.from(model.layers[i][k]!)).toEqual(Array.from(L[k]!));
  });
  expect(Array.from(model.decoderBias)).toEqual(Array.from(m.decoderBias));
  const back = parseModel(serializeModel(model), 'p.safetensors');
  expect(pattern(back.layers[0].B_re)).toEqual(pattern(model.layers[0].B_re));
  expect(JSON.parse(back.metadata.pruning)).toEqual({ sparsity: 0.95, distribution: 'erk' });
  const out = runFloat(back, Float64Array.from({ length: 60 }, (_, i) => Math.sin(i)), 20);
  expect(out.every(Number.isFinite)).toBe(true);
  // The input model was not modified.
  expect(m.layers[0].B_re.kind).toBe('dense');
});

test('sparsity outside [0, 0.99] is refused, on the API and the CLI (one line, no file)', () => {
  expect(() => pruneModel(base(), { sparsity: 1, distribution: 'uniform' })).toThrow(SparrowError);
  expect(() => pruneModel(base(), { sparsity: -0.1, distribution: 'uniform' })).toThrow('--sparsity must be in [0, 0.99]');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-prune-'));
  try {
    fs.writeFileSync(path.join(dir, 'm.safetensors'), serializeModel(base()));
    const cli = (...a: string[]) => spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'dist', 'sparrow.cjs'), ...a], { cwd: dir, encoding: 'utf8' });
    const bad = cli('prune', 'm.safetensors', '-o', 'p.safetensors', '--sparsity', '1.5');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toEqual(['sparrow: --sparsity must be in [0, 0.99], got 1.5']);
    expect(fs.existsSync(path.join(dir, 'p.safetensors'))).toBe(false);
    // uniform: every matrix (re and im alike) ends at 90% ± rounding, so info's total agrees.
    const ok = cli('prune', 'm.safetensors', '-o', 'p.safetensors', '--sparsity', '0.9', '--distribution', 'uniform');
    expect(ok.status).toBe(0);
    const info = JSON.parse(cli('info', 'p.safetensors', '--json').stdout);
    expect(info.matrixSparsity).toBeCloseTo(0.9, 2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
