// Sparse Modular Activation in every executor: the integer firmware under every kernel
// strategy and the C target against the integer reference bit for bit, the f32 firmware
// against the float reference within the f32 engine's tolerance, and the op counters of
// `--profile` builds against counts made here from the reference's own decisions.

import { loadBoard } from '../../host/bench/boards';
import { buildHostProgram } from '../../host/compile/c_build';
import { ABI_I16 as C } from '../../host/compile/abi_i16';
import { CompileOptions, compileModel, compileQuantModel } from '../../host/compile/compile';
import { SPARSE_FORMATS } from '../../host/compress/formats';
import { quantizeModel } from '../../host/compress/quantize';
import { QMatrix, QuantModel } from '../../host/model/quant';
import { randomModel } from '../../host/model/random';
import { Matrix, Model } from '../../host/model/types';
import { runFloat, stepFloat, zeroState } from '../../host/reference/float';
import { IntTrace, quantizeInput, runInt, stepInt, zeroIntState } from '../../host/reference/int';
import { createRunner } from '../../host/runtime/runtime';
import { SparrowError } from '../../host/util/errors';
import { makeRng } from '../../host/util/rng';
import { matvecCounts } from '../helpers/counters';
import { parseModule, summarizeReachable } from '../../host/wasm/binary';

interface Case {
  name: string;
  model: Model;
  q: QuantModel;
}

/** A logit matrix [2, H] stored CSR without its every third entry (the f32 engine's CSR path). */
function sparseLogits(m: Matrix): Matrix {
  const dense = m.kind === 'dense' ? m.values : new Float32Array(m.rows * m.cols);
  const indptr = [0];
  const indices: number[] = [];
  const values: number[] = [];
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) {
      if ((r * m.cols + c) % 3 === 2) continue;
      indices.push(c);
      values.push(dense[r * m.cols + c]);
    }
    indptr.push(indices.length);
  }
  return { kind: 'csr', rows: m.rows, cols: m.cols, indptr: Int32Array.from(indptr), indices: Int32Array.from(indices), values: Float32Array.from(values) };
}

/** Random SMA models: both activations, encoder relu on and off, dense to 95% sparse, H = 1 included. */
function cases(): Case[] {
  const shapes = [
    { d_in: 3, d_model: 24, d_state: 16, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', sparsity: 0.8 },
    { d_in: 5, d_model: 40, d_state: 24, d_out: 3, n_layers: 3, act: 'relu', encoder_act: 'relu', sparsity: 0.95 },
    { d_in: 2, d_model: 16, d_state: 20, d_out: 4, n_layers: 1, act: 'gelu', encoder_act: 'relu', sparsity: 0 },
    { d_in: 4, d_model: 33, d_state: 9, d_out: 1, n_layers: 2, act: 'relu', encoder_act: 'none', sparsity: 0.5 },
    { d_in: 1, d_model: 1, d_state: 3, d_out: 1, n_layers: 2, act: 'gelu', encoder_act: 'none', sparsity: 0 },
  ] as const;
  return shapes.map((s, i) => {
    let model = randomModel({ ...s, gate: true, sma: true, seed: 610 + i });
    if (i === 3) model = { ...model, layers: model.layers.map((L) => ({ ...L, smaWeight: sparseLogits(L.smaWeight!) })) };
    const rng = makeRng(620 + i);
    const calib = { sequences: [{ data: Float64Array.from({ length: 300 * s.d_in }, () => rng.normal()), T: 300 }] };
    const q = quantizeModel(model, calib, { perChannel: i % 2 === 0 });
    return { name: `#${i} ${s.d_in}→H${s.d_model}/P${s.d_state}→${s.d_out} L${s.n_layers} ${s.act}${s.encoder_act === 'relu' ? ' enc-relu' : ''} s=${s.sparsity}`, model, q };
  });
}

function inputs(q: QuantModel, T: number, seed: number): Int16Array {
  const rng = makeRng(seed);
  return Int16Array.from({ length: T * q.config.d_in }, () => quantizeInput(2 * rng.normal(), q.inputFrac));
}

/** The integer reference's gate decisions, [t · n_layers + layer] = 1 when the gate ran. */
function decisions(q: QuantModel, x: Int16Array, T: number): number[] {
  const state = zeroIntState(q);
  const trace: IntTrace = { u: [], v: [], y: [], a: [], m: [] };
  const d = q.config.d_in;
  for (let t = 0; t < T; t++) stepInt(q, state, x.subarray(t * d, (t + 1) * d), trace);
  return trace.m!;
}

function firstDifference(a: Int16Array, b: Int16Array): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

const STRATEGIES: [string, CompileOptions][] = [
  ...(['auto', ...SPARSE_FORMATS] as const).map((format): [string, CompileOptions] => [`--format ${format}`, { format }]),
  ['--kernel unrolled', { kernel: 'unrolled' }],
  ['--kernel auto --board stm32l476 --mode wamr-fast', { kernel: 'auto', board: loadBoard('stm32l476'), mode: 'wamr-fast' }],
  ['a per-matrix mix of code and delta4 tables', { kernel: (name) => (name.includes('gate') || name.includes('C_') ? 'unrolled' : 'csr'), format: 'delta4' }],
  ['--no-wasm-opt', { wasmOpt: false, format: 'csr8' }],
];

// ---------------------------------------------------------------------------
// Expected op counters, from the model, the storage the manifest reports and the decisions
// ---------------------------------------------------------------------------


/**
 * Counters of T steps: every step pays the encoder, the decoder and per layer everything up to
 * the decision (the decision row a dense 1×H table, its bias one parameter); the gate's mat-vec
 * and elementwise work only in the layer-steps whose decision was to run it.
 */
function expectedCounters(q: QuantModel, formats: Map<string, string>, m: number[], T: number): number[] {
  const { d_model: H, d_state: P, d_out, act, n_layers } = q.config;
  const c = new Array<number>(C.N_COUNTERS).fill(0);
  const plus = (v: number[], times: number): void => v.forEach((x, i) => (c[i] += times * x));
  const elem = (times: number, mac: number, state: number, param: number, lut: number, branch: number): void => {
    c[C.C_MAC_ELEMENTWISE] += times * mac;
    c[C.C_LOAD_STATE] += times * state;
    c[C.C_LOAD_PARAM] += times * param;
    c[C.C_LUT] += times * lut;
    c[C.C_BRANCH] += times * branch;
  };
  const mv = (m: QMatrix, name: string): number[] => matvecCounts(m, formats.get(name)!);
  c[C.C_STEPS] = T;
  plus(mv(q.encoderWeight, 'encoder.weight'), T);
  elem(T, 0, 0, 2 * H, 0, H);
  q.layers.forEach((L, i) => {
    const w = `layers.${i}`;
    const active = m.filter((_, k) => k % n_layers === i).reduce((a, b) => a + b, 0);
    elem(T, H, 0, 2 * H, 0, H); // norm
    for (const [mat, name] of [[L.B_re, 'ssm.B_re'], [L.B_im, 'ssm.B_im'], [L.C_re, 'ssm.C_re'], [L.C_im, 'ssm.C_im']] as const) plus(mv(mat, `${w}.${name}`), T);
    elem(T, 4 * P, 2 * P, 3 * P, 0, P); // recurrence
    elem(T, H, 0, 2 * H, act === 'gelu' ? H : 0, H); // C shift, D, activation
    plus(matvecCounts(L.smaWeight!, 'dense'), T); // the decision row
    elem(T, 0, 0, 1, 0, 0); // its bias
    c[C.C_SMA_ACTIVE] += active;
    c[C.C_SMA_SKIPPED] += T - active;
    plus(mv(L.gateWeight!, `${w}.gate.weight`), active);
    elem(active, H, 0, 2 * H, H, H); // gate bias, shift, sigmoid, product
    elem(T, 0, 0, 0, 0, H); // residual
  });
  plus(mv(q.decoderWeight, 'decoder.weight'), T);
  elem(T, 0, 0, 2 * d_out, 0, d_out);
  return c;
}

// ---------------------------------------------------------------------------

describe.each(cases())('$name', ({ model, q }) => {
  const T = 1500;
  const x = inputs(q, T, 11);
  const ref = runInt(q, x, T);
  const m = decisions(q, x, T);

  test('the reference both runs and skips the gate on these inputs', () => {
    const active = m.reduce((a, b) => a + b, 0);
    expect(m.length).toBe(T * q.config.n_layers);
    expect(active).toBeGreaterThan(0);
    expect(active).toBeLessThan(m.length);
  });

  test.each(STRATEGIES)(`%s: equals the integer reference exactly for ${T} steps; selftest() == 0`, (_, opts) => {
    const fw = compileQuantModel(q, opts);
    const runner = createRunner(fw.wasm);
    expect(firstDifference(runner.runRaw(x, T), ref)).toBe(-1);
    expect(runner.selftest()).toBe(0);
  });

  test.each(STRATEGIES)('%s --profile: the counters equal the count from the reference\'s decisions', (_, opts) => {
    const fw = compileQuantModel(q, { ...opts, profile: true });
    const formats = new Map(fw.manifest.firmware.matrices!.map((s) => [s.name, s.format]));
    const runner = createRunner(fw.wasm);
    const exp = runner.exports as unknown as { counters_ptr(): number; memory: WebAssembly.Memory };
    const steps = 300;
    runner.runRaw(x.subarray(0, steps * q.config.d_in), steps); // from reset(), which clears the counters
    const counters = Array.from(new BigUint64Array(exp.memory.buffer, exp.counters_ptr(), C.N_COUNTERS), Number);
    const ms = m.slice(0, steps * q.config.n_layers);
    const active = ms.reduce((a, b) => a + b, 0);
    expect(counters[C.C_SMA_ACTIVE] + counters[C.C_SMA_SKIPPED]).toBe(q.config.n_layers * steps);
    expect(counters[C.C_SMA_ACTIVE]).toBe(active);
    // Matrix MACs: every non-gate matrix each step, each gate once per active decision, H per decision row.
    const macs = (mat: QMatrix, name: string): number => matvecCounts(mat, formats.get(name)!)[C.C_MAC_MATRIX];
    let perStep = macs(q.encoderWeight, 'encoder.weight') + macs(q.decoderWeight, 'decoder.weight');
    let gateMacs = 0;
    q.layers.forEach((L, i) => {
      const w = `layers.${i}`;
      perStep += macs(L.B_re, `${w}.ssm.B_re`) + macs(L.B_im, `${w}.ssm.B_im`) + macs(L.C_re, `${w}.ssm.C_re`) + macs(L.C_im, `${w}.ssm.C_im`);
      gateMacs += macs(L.gateWeight!, `${w}.gate.weight`) * ms.filter((_, k) => k % q.config.n_layers === i).reduce((a, b) => a + b, 0);
    });
    expect(counters[C.C_MAC_MATRIX]).toBe(perStep * steps + gateMacs + q.config.d_model * steps * q.config.n_layers);
    expect(counters).toEqual(expectedCounters(q, formats, ms, steps));
  });

  test('C target, table-driven and weights in code: equals the integer reference exactly', () => {
    for (const kernel of ['csr', 'unrolled'] as const) {
      const prog = buildHostProgram(q, { kernel, cflags: ['-O2'] })!;
      try {
        expect(firstDifference(prog.run(x), ref)).toBe(-1);
      } finally {
        prog.dispose();
      }
    }
  });

  test('f32 firmware: matches the float64 reference within 1e-4·(1 + |ref|) for 2000 steps, and decides as it does', () => {
    const steps = 2000;
    const rng = makeRng(13);
    const fx = Float32Array.from({ length: steps * model.config.d_in }, () => rng.normal());
    const fw = compileModel(model, { wasmOpt: false });
    const runner = createRunner(fw.wasm);
    const out = runner.run(fx, steps);
    const expected = runFloat(model, fx, steps);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(out[i] - expected[i]) / (1 + Math.abs(expected[i])));
    expect(worst).toBeLessThanOrEqual(1e-4);
    expect(runner.selftest()).toBe(0);
    // A wrong decision moves an output by a whole gate's worth, far beyond 1e-4: both kinds occurred.
    const state = zeroState(model);
    let active = 0;
    let total = 0;
    const d = model.config.d_in;
    for (let t = 0; t < steps; t++) {
      stepFloat(model, state, fx.subarray(t * d, (t + 1) * d), (tensor, _layer, v) => {
        if (tensor !== 'm') return;
        active += v[0];
        total++;
      });
    }
    expect(active).toBeGreaterThan(0);
    expect(active).toBeLessThan(total);
  });
});

test('no float instruction reachable from step() of an SMA integer firmware; the ABI is unchanged', () => {
  const { q } = cases()[1];
  const fw = compileQuantModel(q);
  const mod = parseModule(fw.wasm);
  expect(summarizeReachable(mod, 'step').float).toBe(0);
  expect(mod.imports).toHaveLength(0);
  expect(fw.manifest.model.config.sma).toBe(true);
});

test('a decision row stored CSR compiles to the same firmware as stored dense', () => {
  const { q } = cases()[0];
  const csr = structuredClone(q);
  for (const L of csr.layers) {
    const row = L.smaWeight!;
    const cols = Array.from(row.values.keys()).filter((c) => row.values[c] !== 0);
    L.smaWeight = { kind: 'csr', rows: 1, cols: row.cols, indptr: Int32Array.of(0, cols.length), indices: Int32Array.from(cols), values: Int8Array.from(cols, (c) => row.values[c]), rowFrac: row.rowFrac };
  }
  expect(q.layers[0].smaWeight!.kind).toBe('dense');
  expect(Buffer.from(compileQuantModel(csr, { kernel: 'unrolled' }).wasm).equals(Buffer.from(compileQuantModel(q, { kernel: 'unrolled' }).wasm))).toBe(true);
});

test('refused at compile time: SMA without a gate, or a decision row of the wrong shape', () => {
  const { model, q } = cases()[0];
  const noGate = { ...q, config: { ...q.config, gate: false } };
  expect(() => compileQuantModel(noGate)).toThrow(SparrowError);
  expect(() => compileQuantModel(noGate)).toThrow(/sma needs gate/);
  const wide = structuredClone(q);
  wide.layers[1].smaWeight = { ...wide.layers[1].smaWeight!, rows: 2, values: new Int8Array(2 * q.config.d_model) };
  expect(() => compileQuantModel(wide)).toThrow(/^layers\.1\.sma\.weight: expected the one decision row \[1, 24\], got \[2, 24\]$/);
  const noBias = { ...model, layers: model.layers.map((L) => ({ ...L, smaBias: undefined })) };
  expect(() => compileModel(noBias)).toThrow(/^layers\.0\.sma\.bias: expected two biases, got none$/);
});
