// ============================================================================
// Measured host latency of firmware step() in Node (V8). Each step is timed
// alone with process.hrtime after a warm-up; the call overhead is measured
// apart as the cost of calling an export that returns a constant
// (io_format()), so compute time ≈ step − overhead.
// ============================================================================

import * as os from 'os';
import { compileModel, compileQuantModel } from '../compile/compile';
import { SparseFormat } from '../compress/formats';
import { quantizeModel } from '../compress/quantize';
import { describeModel } from '../model/describe';
import { randomModel } from '../model/random';
import { instantiateFirmware } from '../runtime/runtime';
import { makeRng } from '../util/rng';
import { latencyStats, LatencyStats, timeEach } from './timing';

export interface BenchRow {
  engine: 'f32' | 'i16';
  format: string;
  sparsity: number;
  macsPerStep: number;
  wasmBytes: number;
  step: LatencyStats;
  /** p50 of step minus p50 of an empty call, per MAC. */
  nsPerMac: number;
}

export interface BenchReport {
  date: string;
  machine: string;
  node: string;
  model: string;
  steps: number;
  callOverheadP50Us: number;
  rows: BenchRow[];
}

/** Time `steps` calls of step() with fresh N(0,1)-like input each step (no subnormal drift). */
export function benchStep(wasm: Uint8Array, steps: number, warmup: number): { step: LatencyStats; overhead: LatencyStats } {
  const fw = instantiateFirmware(wasm, 'bench');
  fw.init();
  const dIn = fw.input_len();
  const integer = fw.io_format() === 1;
  const rng = makeRng(11);
  const pool = Float64Array.from({ length: 4096 }, () => rng.normal());
  const input = integer ? new Int16Array(fw.memory.buffer, fw.input_ptr(), dIn) : new Float32Array(fw.memory.buffer, fw.input_ptr(), dIn);
  const scale = integer ? 2 ** (fw.input_frac!() - 2) : 1;
  let k = 0;
  const step = timeEach(() => {
    for (let j = 0; j < dIn; j++) input[j] = pool[k++ & 4095] * scale;
    fw.step();
  }, steps, warmup);
  const overhead = timeEach(() => fw.io_format(), steps, warmup);
  return { step: latencyStats(step), overhead: latencyStats(overhead) };
}

export interface SweepOptions {
  sparsities: number[];
  dModel: number;
  dState: number;
  layers: number;
  steps: number;
  warmup: number;
  onProgress?: (done: number, total: number, label: string) => void;
}

/** Random models at each sparsity; f32 firmware, integer firmware (chosen formats) and integer csr16. */
export function sweep(opts: SweepOptions): BenchReport {
  const rows: BenchRow[] = [];
  let overheadP50 = Infinity;
  const total = opts.sparsities.length * 3;
  let done = 0;
  for (const s of opts.sparsities) {
    const model = randomModel({ d_in: 8, d_model: opts.dModel, d_state: opts.dState, d_out: 8, n_layers: opts.layers, act: 'gelu', encoder_act: 'none', gate: false, sparsity: s, seed: 1 });
    const macs = describeModel(model).macsPerStep;
    const rng = makeRng(2);
    const q = quantizeModel(model, { sequences: [{ data: Float64Array.from({ length: 8 * 300 }, () => rng.normal()), T: 300 }] });
    const variants: [BenchRow['engine'], string, Uint8Array][] = [
      ['f32', s === 0 ? 'dense' : 'csr16', compileModel(model, { wasmOpt: false }).wasm],
      ['i16', 'auto', compileQuantModel(q, { wasmOpt: false }).wasm],
      ['i16', s === 0 ? 'dense' : 'csr16', compileQuantModel(q, { wasmOpt: false, format: (s === 0 ? 'dense' : 'csr16') as SparseFormat }).wasm],
    ];
    for (const [engine, format, wasm] of variants) {
      opts.onProgress?.(done++, total, `${engine} ${format} s=${s}`);
      const { step, overhead } = benchStep(wasm, opts.steps, opts.warmup);
      overheadP50 = Math.min(overheadP50, overhead.p50Us);
      rows.push({ engine, format, sparsity: s, macsPerStep: macs, wasmBytes: wasm.length, step, nsPerMac: ((step.p50Us - overhead.p50Us) * 1000) / macs });
    }
  }
  opts.onProgress?.(total, total, 'done');
  return {
    date: new Date().toISOString().slice(0, 10),
    machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    model: `random, H = ${opts.dModel}, P = ${opts.dState}, ${opts.layers} layers, d_in = d_out = 8, gelu, no gate`,
    steps: opts.steps,
    callOverheadP50Us: overheadP50,
    rows,
  };
}
