// The training GEMM kernels against the textbook triple loop, and the WebAssembly core
// (build/train-gemm.wasm) against the TypeScript one, on shapes that exercise every edge:
// sizes not a multiple of the 4×4 block, a single row or column, K longer than a chunk.

import * as fs from 'fs';
import { Gemm, tsGemm, wasmGemm, wasmGemmCandidates, wasmGemmProblem } from '../../host/train/gemm';
import { ModelConfig } from '../../host/model/types';
import { initParams, paramRefs } from '../../host/train/params';
import { makeRng } from '../../host/util/rng';

type Form = 'nn' | 'nt' | 'tn';

/** C (+)= op(A)·op(B) by the definition, one dot product per entry. */
function reference(form: Form, A: Float64Array, B: Float64Array, C: Float64Array, m: number, n: number, k: number, accumulate: boolean): Float64Array {
  const out = accumulate ? Float64Array.from(C) : new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) {
        const a = form === 'tn' ? A[q * m + i] : A[i * k + q];
        const b = form === 'nt' ? B[j * k + q] : B[q * n + j];
        s += a * b;
      }
      out[i * n + j] += s;
    }
  }
  return out;
}

const shapes: [number, number, number][] = [[1, 1, 1], [3, 5, 2], [4, 4, 4], [7, 9, 13], [17, 6, 300], [64, 10, 129], [5, 130, 600]];
const forms: Form[] = ['nn', 'nt', 'tn'];

function operands(m: number, n: number, k: number, seed: number) {
  const rng = makeRng(seed);
  const fill = (len: number) => Float64Array.from({ length: len }, () => rng.normal());
  return { A: fill(m * k), B: fill(k * n), C: fill(m * n) };
}

function maxRelDiff(x: Float64Array, y: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / Math.max(1, Math.abs(y[i])));
  return worst;
}

function check(g: Gemm, form: Form, [m, n, k]: [number, number, number], accumulate: boolean): number {
  const { A, B, C } = operands(m, n, k, m * 1000 + n * 10 + k);
  const want = reference(form, A, B, C, m, n, k, accumulate);
  const got = Float64Array.from(C);
  g[form](A, B, got, m, n, k, accumulate);
  return maxRelDiff(got, want);
}

describe.each(forms)('%s', (form) => {
  test.each(shapes)('TypeScript kernel equals the definition for m=%i n=%i k=%i', (m, n, k) => {
    expect(check(tsGemm, form, [m, n, k], false)).toBeLessThan(1e-12);
    expect(check(tsGemm, form, [m, n, k], true)).toBeLessThan(1e-12);
  });

  (wasmGemm ? test.each(shapes) : test.skip.each(shapes))('WebAssembly kernel equals the TypeScript one for m=%i n=%i k=%i', (m, n, k) => {
    for (const accumulate of [false, true]) {
      const { A, B, C } = operands(m, n, k, 7 + m + n + k);
      const viaTs = Float64Array.from(C);
      const viaWasm = Float64Array.from(C);
      tsGemm[form](A, B, viaTs, m, n, k, accumulate);
      wasmGemm![form](A, B, viaWasm, m, n, k, accumulate);
      expect(maxRelDiff(viaWasm, viaTs)).toBeLessThan(1e-12);
    }
  });
});

test('the WebAssembly kernel loads whenever it has been built', () => {
  if (!wasmGemmCandidates().some((f) => fs.existsSync(f))) return; // jest before `npm run build`: the TypeScript core runs
  expect(wasmGemmProblem).toBeUndefined();
  expect(wasmGemm?.kind).toBe('wasm');
});

test('the WebAssembly kernel survives its memory growing between calls', () => {
  if (!wasmGemm) return;
  for (const [m, n, k] of [[4, 4, 4], [600, 130, 200], [3, 3, 3]] as [number, number, number][]) {
    const { A, B, C } = operands(m, n, k, 3);
    const want = Float64Array.from(C);
    tsGemm.nn(A, B, want, m, n, k, true);
    wasmGemm.nn(A, B, C, m, n, k, true);
    expect(maxRelDiff(C, want)).toBeLessThan(1e-12);
  }
});

test('forwardBatch and backwardBatch give the same outputs and gradients on either core', () => {
  if (!wasmGemm) return;
  type Backprop = typeof import('../../host/train/backprop');
  /** backprop.ts loaded afresh with SPARROW_TRAIN_GEMM=core, and the kind of core its gemm.ts picked. */
  const withCore = (core: 'ts' | 'wasm'): { bp: Backprop; kind: string } => {
    const before = process.env.SPARROW_TRAIN_GEMM;
    process.env.SPARROW_TRAIN_GEMM = core;
    let loaded: { bp: Backprop; kind: string } | undefined;
    jest.isolateModules(() => {
      loaded = { bp: require('../../host/train/backprop') as Backprop, kind: (require('../../host/train/gemm') as typeof import('../../host/train/gemm')).gemm.kind };
    });
    if (before === undefined) delete process.env.SPARROW_TRAIN_GEMM;
    else process.env.SPARROW_TRAIN_GEMM = before;
    return loaded!;
  };
  const config: ModelConfig = { d_in: 3, d_model: 6, d_state: 5, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'relu', gate: true };
  const T = 9;
  const rng = makeRng(4);
  const inputs = Array.from({ length: 3 }, () => Float32Array.from({ length: T * config.d_in }, () => rng.normal()));
  const gradOut = Array.from({ length: 3 }, () => Float64Array.from({ length: T * config.d_out }, () => rng.normal()));
  const masks = new Map([['layers.1.ssm.B', Uint8Array.from({ length: 30 }, (_, i) => (i % 4 ? 1 : 0))]]);
  const run = ({ bp }: { bp: Backprop }) => {
    const p = initParams(config, 9, [0.05, 0.5]);
    const { outputs, tape } = bp.forwardBatch(p, masks, inputs, T, true);
    return { outputs, grads: paramRefs(bp.backwardBatch(p, tape, gradOut)) };
  };
  const ts = withCore('ts');
  const wasm = withCore('wasm');
  expect([ts.kind, wasm.kind]).toEqual(['ts', 'wasm']);
  const viaTs = run(ts);
  const viaWasm = run(wasm);
  viaTs.outputs.forEach((o, n) => expect(maxRelDiff(viaWasm.outputs[n], o)).toBeLessThan(1e-12));
  viaTs.grads.forEach((r, k) => expect({ name: r.name, diff: maxRelDiff(viaWasm.grads[k].value, r.value) < 1e-12 }).toEqual({ name: r.name, diff: true }));
});
