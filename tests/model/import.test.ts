// S5 import: zero-order-hold discretization against a case computed by hand, conj_sym, BatchNorm folding, errors.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { zipSync } from 'fflate';
import { importS5, ImportTensor, readImportFile } from '../../host/model/import';
import { serializeNpy } from '../../host/model/npy';
import { parseModel, serializeModel } from '../../host/model/model';
import { SparrowError } from '../../host/util/errors';

const t = (shape: number[], ...v: number[]): ImportTensor => ({ shape, data: Float64Array.from(v) });

/** One layer, P = H = d_in = d_out = 1: Λ = −0.5 + 1i, Δ = 0.1, B = 2 − 1i, C = 0.5 + 0.25i. */
function checkpoint(extra: Record<string, ImportTensor> = {}): Map<string, ImportTensor> {
  return new Map(Object.entries({
    'encoder.weight': t([1, 1], 1), 'encoder.bias': t([1], 0),
    'layers.0.Lambda_re': t([1], -0.5), 'layers.0.Lambda_im': t([1], 1),
    'layers.0.log_step': t([1, 1], Math.log(0.1)),
    'layers.0.B': t([1, 1, 2], 2, -1),
    'layers.0.C': t([1, 1, 2], 0.5, 0.25),
    'layers.0.D': t([1], 0.75),
    'decoder.weight': t([1, 1], 1), 'decoder.bias': t([1], 0),
    ...extra,
  }));
}

const opts = { act: 'relu' as const, encoderAct: 'none' as const, conjSym: false };

test('ZOH by hand: Λ̄ = exp(ΛΔ), B̄ = ((Λ̄ − 1)/Λ)·B', () => {
  const m = importS5(checkpoint(), 'ck.npz', opts);
  const L = m.layers[0];
  // ΛΔ = −0.05 + 0.1i;  Λ̄ = e^{−0.05}(cos 0.1 + i sin 0.1) = 0.9512294245·(0.9950041653 + 0.0998334166i)
  //    = 0.9464772395 + 0.0949644835i
  expect(L.lambdaRe[0]).toBeCloseTo(0.9464772395, 6);
  expect(L.lambdaIm[0]).toBeCloseTo(0.0949644835, 6);
  // Λ̄ − 1 = −0.0535227605 + 0.0949644835i;  1/Λ = conj(Λ)/|Λ|² = (−0.5 − 1i)/1.25
  // γ = [(−0.0535227605)(−0.5) − (0.0949644835)(−1) + i((−0.0535227605)(−1) + (0.0949644835)(−0.5))]/1.25
  //   = (0.1217258637 + 0.0060405188i)/1.25 = 0.0973806910 + 0.0048324150i
  // B̄ = γ·(2 − 1i) = (2·0.0973806910 + 0.0048324150) + i(2·0.0048324150 − 0.0973806910)
  //   = 0.1995937970 − 0.0877158610i
  expect((L.B_re.kind === 'dense' && L.B_re.values[0])).toBeCloseTo(0.199593797, 6);
  expect((L.B_im.kind === 'dense' && L.B_im.values[0])).toBeCloseTo(-0.087715861, 6);
  // C is copied (no conj_sym), D as given, no norm in the checkpoint → identity.
  expect(L.C_re.kind === 'dense' && L.C_re.values[0]).toBe(0.5);
  expect(L.C_im.kind === 'dense' && L.C_im.values[0]).toBe(0.25);
  expect(L.D[0]).toBe(0.75);
  expect([L.normScale[0], L.normShift[0]]).toEqual([1, 0]);
  expect(m.metadata).toMatchObject({ source: 'import-s5', discretization: 'zoh', conj_sym: 'false' });
  // The imported model is a valid sparrow model (stable, right shapes).
  expect(parseModel(serializeModel(m), 'x.safetensors').config).toEqual(m.config);
});

test('conj_sym folds the factor 2 into C; separate re/im tensors are accepted', () => {
  const ck = checkpoint();
  ck.delete('layers.0.C');
  ck.set('layers.0.C_re', t([1, 1], 0.5));
  ck.set('layers.0.C_im', t([1, 1], 0.25));
  const L = importS5(ck, 'ck.npz', { ...opts, conjSym: true }).layers[0];
  expect(L.C_re.kind === 'dense' && L.C_re.values[0]).toBe(1);
  expect(L.C_im.kind === 'dense' && L.C_im.values[0]).toBe(0.5);
});

test('BatchNorm running statistics fold into scale and shift', () => {
  // mean 0.5, var 3, weight 2, bias 1, eps 1: scale = 2/√(3 + 1) = 1; shift = 1 − 0.5·1 = 0.5
  const ck = checkpoint({ 'layers.0.norm.mean': t([1], 0.5), 'layers.0.norm.var': t([1], 3), 'layers.0.norm.weight': t([1], 2), 'layers.0.norm.bias': t([1], 1) });
  const L = importS5(ck, 'ck.npz', { ...opts, bnEps: 1 }).layers[0];
  expect(L.normScale[0]).toBe(1);
  expect(L.normShift[0]).toBe(0.5);
});

test('reads .npz archives (stored and deflated entries) and safetensors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-imp-'));
  try {
    const entries: Record<string, [Uint8Array, { level: 0 | 6 }]> = {};
    let i = 0;
    for (const [name, v] of checkpoint()) entries[`${name}.npy`] = [serializeNpy(Float64Array.from(v.data as Float64Array), v.shape), { level: i++ % 2 === 0 ? 0 : 6 }];
    const file = path.join(dir, 's5.npz');
    fs.writeFileSync(file, zipSync(entries));
    const m = importS5(readImportFile(file), file, opts);
    expect(m.layers[0].lambdaRe[0]).toBeCloseTo(0.9464772395, 6);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('SMA: layers.i.sma.weight [2, H] and sma.bias [2] become the model\'s decision logits, as given', () => {
  const m = importS5(checkpoint({
    'layers.0.gate.weight': t([1, 1], 0.5), 'layers.0.gate.bias': t([1], 0.1),
    'layers.0.sma.weight': t([2, 1], -1, 2), 'layers.0.sma.bias': t([2], 0.25, -0.5),
  }), 'ck.npz', opts);
  expect(m.config.sma).toBe(true);
  const L = m.layers[0];
  expect(L.smaWeight).toEqual({ kind: 'dense', rows: 2, cols: 1, values: Float32Array.of(-1, 2) });
  expect(Array.from(L.smaBias!)).toEqual([0.25, -0.5]);
  expect(parseModel(serializeModel(m), 'x.safetensors').config.sma).toBe(true);
  // Without the tensors the config stays as before (no sma key).
  expect('sma' in importS5(checkpoint(), 'ck.npz', opts).config).toBe(false);
});

test.each([
  ['SMA without a gate', (ck: Map<string, ImportTensor>) => ck.set('layers.0.sma.weight', t([2, 1], 1, 2)), 'layers.0.sma.weight: SMA decides whether the gate runs, and the checkpoint has no layers.0.gate.weight'],
  ['missing tensor', (ck: Map<string, ImportTensor>) => ck.delete('layers.0.D'), 'layers.0.D: missing'],
  ['bad shape', (ck: Map<string, ImportTensor>) => ck.set('layers.0.B', t([1, 2, 2], 1, 2, 3, 4)), 'layers.0.B: shape [1, 2, 2], expected [1, 1, 2]'],
  ['unstable pole', (ck: Map<string, ImportTensor>) => ck.set('layers.0.Lambda_re', t([1], 0.1)), 'Re(Λ) = 0.1 ≥ 0'],
  ['non-finite', (ck: Map<string, ImportTensor>) => ck.set('layers.0.D', t([1], NaN)), 'layers.0.D: non-finite'],
])('error: %s', (_n, mutate, fragment) => {
  const ck = checkpoint();
  mutate(ck);
  expect(() => importS5(ck, 'ck.npz', opts)).toThrow(SparrowError);
  expect(() => importS5(ck, 'ck.npz', opts)).toThrow(fragment);
});
