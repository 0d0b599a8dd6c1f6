// Magnitude pruning: counts per distribution, the kept entries are the largest, shared complex patterns; the balanced saliency of B and C.

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
  const { model, report } = pruneModel(m, { sparsity: 0.8, distribution: 'uniform', saliency: 'magnitude' });
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
  const { model, report } = pruneModel(base(), { sparsity: 0.9, distribution: 'global', saliency: 'magnitude' });
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

test('erk-ssm: encoder, gates and decoder keep their ERK budgets; B and C of all layers share the rest under one threshold', () => {
  const b = base();
  const erk = pruneModel(b, { sparsity: 0.9, distribution: 'erk', saliency: 'magnitude' }).report;
  const { model, report } = pruneModel(b, { sparsity: 0.9, distribution: 'erk-ssm', saliency: 'magnitude' });
  const isSsm = (name: string): boolean => /ssm\.[BC]$/.test(name);
  const keptOf = (r: typeof report, f: (n: string) => boolean): number => r.matrices.filter((m) => f(m.name)).reduce((a, m) => a + m.kept, 0);
  for (const m of report.matrices.filter((x) => !isSsm(x.name))) expect(m.kept).toBe(erk.matrices.find((x) => x.name === m.name)!.kept);
  expect(keptOf(report, isSsm)).toBe(keptOf(erk, isSsm));
  // Not ERK's per-matrix split: the B and C counts differ from it.
  expect(report.matrices.filter((x) => isSsm(x.name)).map((x) => x.kept)).not.toEqual(erk.matrices.filter((x) => isSsm(x.name)).map((x) => x.kept));
  // One threshold over the four complex units, computed here from the weights.
  let minKept = Infinity;
  let maxPruned = 0;
  model.layers.forEach((L, i) => {
    for (const [pruned, re, im] of [
      [L.B_re, b.layers[i].B_re, b.layers[i].B_im],
      [L.C_re, b.layers[i].C_re, b.layers[i].C_im],
    ] as const) {
      const [r, m] = [toDense(re).values, toDense(im).values];
      keptMask(pruned).forEach((k, j) => {
        const mag = Math.hypot(r[j], m[j]);
        if (k) minKept = Math.min(minKept, mag);
        else maxPruned = Math.max(maxPruned, mag);
      });
    }
  });
  expect(minKept).toBeGreaterThanOrEqual(maxPruned);
  // With the balanced saliency (the default) the pooled budget is the same and the choice is recorded.
  const bal = pruneModel(b, { sparsity: 0.9, distribution: 'erk-ssm' });
  expect(keptOf(bal.report, isSsm)).toBe(keptOf(erk, isSsm));
  expect(JSON.parse(bal.model.metadata.pruning).distribution).toBe('erk-ssm');
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
  expect(JSON.parse(back.metadata.pruning)).toEqual({ sparsity: 0.95, distribution: 'erk', saliency: 'balanced' });
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

// ---- balanced saliency (host/compress/prune.ts header) ----

/** Per layer, states with kept input entries (B rows) and kept output entries (C columns). */
const stateUse = (L: Model['layers'][number]): { input: boolean[]; output: boolean[] } => {
  const b = keptMask(L.B_re);
  const c = keptMask(L.C_re);
  const P = L.B_re.rows;
  const H = L.B_re.cols;
  const input = Array.from({ length: P }, (_, i) => b.slice(i * H, (i + 1) * H).some(Boolean));
  const output = Array.from({ length: P }, (_, i) => Array.from({ length: L.C_re.rows }, (_, k) => c[k * P + i]).some(Boolean));
  return { input, output };
};

/** A 1-layer model with P = 2 states and H = 2 given Λ̄ (real), B̄ and C (dense, imaginary parts 0). */
function twoStates(lambda: [number, number], B: number[], C: number[]): Model {
  const m = randomModel({ d_in: 2, d_model: 2, d_state: 2, d_out: 2, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0, seed: 5 });
  const L = m.layers[0];
  L.lambdaRe = Float32Array.from(lambda);
  L.lambdaIm = new Float32Array(2);
  L.B_re = { kind: 'dense', rows: 2, cols: 2, values: Float32Array.from(B) };
  L.B_im = { kind: 'dense', rows: 2, cols: 2, values: new Float32Array(4) };
  L.C_re = { kind: 'dense', rows: 2, cols: 2, values: Float32Array.from(C) };
  L.C_im = { kind: 'dense', rows: 2, cols: 2, values: new Float32Array(4) };
  return m;
}

test('balanced: a slow state with small B̄ keeps its input where magnitude prunes it (hand-computed)', () => {
  // State 0 is slow (Λ̄ = 0.999, B̄ row 0.01): its H2 gain 1/√(1 − 0.999²) = 22.4 makes its RMS
  // under unit white input 22.4 · 0.01 · √2 = 0.316, twice state 1's (Λ̄ = 0.5, B̄ row 0.1:
  // 1.155 · 0.1 · √2 = 0.163). C reads both alike. Each matrix keeps 2 of its 4 entries:
  const m = twoStates([0.999, 0.5], [0.01, 0.01, 0.1, 0.1], [1, 1, 1, 1]);
  const mag = pruneModel(m, { sparsity: 0.5, distribution: 'uniform', saliency: 'magnitude' }).model.layers[0];
  // magnitude keeps B̄'s row 1 (state 1) and, on C's tie, the lower row-major entries: row 0,
  // which reads both states; state 0 has an output and no input.
  expect(keptMask(mag.B_re)).toEqual([false, false, true, true]);
  expect(stateUse(mag)).toEqual({ input: [false, true], output: [true, true] });
  // balanced: s0 = √(√2 / 0.316) = 2.115 → B row 0 scores 2.115 · 22.4 · 0.01 = 0.473 against
  // row 1's 2.945 · 1.155 · 0.1 = 0.340; C's column 0 scores 1/s0 = 0.473 against 0.340.
  const bal = pruneModel(m, { sparsity: 0.5, distribution: 'uniform', saliency: 'balanced' }).model.layers[0];
  expect(keptMask(bal.B_re)).toEqual([true, true, false, false]);
  expect(keptMask(bal.C_re)).toEqual([true, false, true, false]);
  expect(stateUse(bal)).toEqual({ input: [true, false], output: [true, false] });
});

test('balanced: the masks do not change when a state is rescaled (B̄ row × a, C column ÷ a), which computes the same function; magnitude masks do', () => {
  const m = base();
  const scaled = parseModel(serializeModel(m), 's.safetensors');
  const a = [0.05, 7, 0.3, 20, 1, 0.01, 3, 0.5];
  scaled.layers.forEach((L) => {
    const P = L.B_re.rows;
    const H = L.B_re.cols;
    for (const part of ['B_re', 'B_im'] as const) {
      const v = toDense(L[part]).values;
      for (let i = 0; i < P; i++) for (let j = 0; j < H; j++) v[i * H + j] *= a[i % a.length];
      L[part] = { kind: 'dense', rows: P, cols: H, values: v };
    }
    for (const part of ['C_re', 'C_im'] as const) {
      const v = toDense(L[part]).values;
      for (let k = 0; k < L[part].rows; k++) for (let i = 0; i < P; i++) v[k * P + i] /= a[i % a.length];
      L[part] = { kind: 'dense', rows: L[part].rows, cols: P, values: v };
    }
  });
  const u = Float64Array.from({ length: 90 }, (_, i) => Math.sin(0.3 * i));
  const y0 = runFloat(m, u, 30);
  const y1 = runFloat(scaled, u, 30);
  y0.forEach((v, i) => expect(y1[i]).toBeCloseTo(v, 4));
  for (const [sparsity, distribution] of [[0.9, 'erk'], [0.7, 'global'], [0.5, 'uniform']] as const) {
    const p0 = pruneModel(m, { sparsity, distribution, saliency: 'balanced' }).model;
    const p1 = pruneModel(scaled, { sparsity, distribution, saliency: 'balanced' }).model;
    p0.layers.forEach((L, l) => {
      expect(keptMask(p1.layers[l].B_re)).toEqual(keptMask(L.B_re));
      expect(keptMask(p1.layers[l].C_re)).toEqual(keptMask(L.C_re));
    });
  }
  const q0 = pruneModel(m, { sparsity: 0.9, distribution: 'erk', saliency: 'magnitude' }).model;
  const q1 = pruneModel(scaled, { sparsity: 0.9, distribution: 'erk', saliency: 'magnitude' }).model;
  expect(keptMask(q1.layers[0].B_re)).not.toEqual(keptMask(q0.layers[0].B_re));
});

test('balanced: no state keeps entries on one side only (its other entries compute nothing); magnitude leaves such orphans', () => {
  let magnitudeOrphans = 0;
  for (const seed of [1, 2, 3, 4]) {
    const m = randomModel({ d_in: 3, d_model: 32, d_state: 32, d_out: 5, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0, seed });
    for (const sparsity of [0.8, 0.9, 0.95]) {
      const opts = { sparsity, distribution: 'erk' } as const;
      const bal = pruneModel(m, { ...opts, saliency: 'balanced' });
      const mag = pruneModel(m, { ...opts, saliency: 'magnitude' });
      // Same budget per matrix.
      expect(bal.report.matrices.map((r) => r.kept)).toEqual(mag.report.matrices.map((r) => r.kept));
      bal.model.layers.forEach((L) => {
        const { input, output } = stateUse(L);
        input.forEach((x, i) => expect(x).toBe(output[i]));
      });
      mag.model.layers.forEach((L) => {
        const { input, output } = stateUse(L);
        magnitudeOrphans += input.filter((x, i) => x !== output[i]).length;
      });
    }
  }
  expect(magnitudeOrphans).toBeGreaterThan(0);
});

test('prune: balanced by default, --saliency magnitude on request; recorded in the metadata and named in the report', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-prune-'));
  try {
    fs.writeFileSync(path.join(dir, 'm.safetensors'), serializeModel(base()));
    const cli = (...a: string[]) => spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'dist', 'sparrow.cjs'), ...a], { cwd: dir, encoding: 'utf8' });
    const r = cli('prune', 'm.safetensors', '-o', 'p.safetensors', '--sparsity', '0.8');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('erk balanced pruning, target 80.0%');
    const back = parseModel(fs.readFileSync(path.join(dir, 'p.safetensors')), 'p.safetensors');
    expect(JSON.parse(back.metadata.pruning)).toEqual({ sparsity: 0.8, distribution: 'erk', saliency: 'balanced' });
    // The same as the library's balanced masks, and unlike its magnitude ones.
    const lib = (saliency: 'magnitude' | 'balanced') => pruneModel(base(), { sparsity: 0.8, distribution: 'erk', saliency }).model.layers[0].B_re;
    expect(keptMask(back.layers[0].B_re)).toEqual(keptMask(lib('balanced')));
    const m = cli('prune', 'm.safetensors', '-o', 'm8.safetensors', '--sparsity', '0.8', '--saliency', 'magnitude');
    expect(m.stdout).toContain('erk magnitude pruning, target 80.0%');
    const mback = parseModel(fs.readFileSync(path.join(dir, 'm8.safetensors')), 'm8.safetensors');
    expect(JSON.parse(mback.metadata.pruning)).toEqual({ sparsity: 0.8, distribution: 'erk', saliency: 'magnitude' });
    expect(keptMask(mback.layers[0].B_re)).toEqual(keptMask(lib('magnitude')));
    expect(keptMask(lib('magnitude'))).not.toEqual(keptMask(lib('balanced')));
    const bad = cli('prune', 'm.safetensors', '-o', 'q.safetensors', '--sparsity', '0.8', '--saliency', 'gain');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
