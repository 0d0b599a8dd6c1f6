// ============================================================================
// The demo (`npm start`): compile a shipped model to firmware, stream a signal
// through it one step at a time as a device would, and report what an embedded
// engineer asks first: does it match the reference, how big is it, how fast.
// ============================================================================

import * as os from 'os';
import * as path from 'path';
import { latencyStats, timeEach } from '../bench/timing';
import { compileToDirectory } from '../compile/files';
import { describeModel } from '../model/describe';
import { readModel } from '../model/model';
import { stepFloat, zeroState } from '../reference/float';
import { formatBytes, formatNumber, formatTable } from '../report/table';
import { createRunner } from '../runtime/runtime';
import { readFirmware } from '../runtime/files';
import { makeRng } from '../util/rng';

/** A chirp from 0.01 to 0.2 cycles/step with a little noise on every input channel. */
function chirp(T: number, dIn: number, seed: number): Float32Array {
  const rng = makeRng(seed);
  const x = new Float32Array(T * dIn);
  let phase = 0;
  for (let t = 0; t < T; t++) {
    phase += 2 * Math.PI * (0.01 + (0.19 * t) / T);
    for (let j = 0; j < dIn; j++) x[t * dIn + j] = Math.sin(phase + j) + 0.1 * rng.normal();
  }
  return x;
}

export function runDemo(modelPath: string, steps: number, outDir = path.join('out', 'demo')): string {
  const model = readModel(modelPath);
  const summary = describeModel(model);
  const { manifest, summary: compileSummary } = compileToDirectory(modelPath, outDir);
  const runner = createRunner(readFirmware(path.join(outDir, 'firmware.wasm')));
  const { d_in, d_out } = model.config;
  const input = chirp(steps, d_in, 7);

  // Agreement with the float64 reference over the first steps.
  const checkSteps = Math.min(steps, 2000);
  const state = zeroState(model);
  let maxRel = 0;
  for (let t = 0; t < checkSteps; t++) {
    const x = input.subarray(t * d_in, (t + 1) * d_in);
    const ref = stepFloat(model, state, x);
    const out = runner.step(x);
    for (let j = 0; j < d_out; j++) maxRel = Math.max(maxRel, Math.abs(out[j] - ref[j]) / (1 + Math.abs(ref[j])));
  }

  // Streaming latency: one step() per input, measured per call after warm-up.
  runner.reset();
  let last: Float32Array = new Float32Array(d_out);
  const samples = timeEach((i) => {
    last = runner.step(input.subarray((i % steps) * d_in, ((i % steps) + 1) * d_in));
  }, steps, Math.min(1000, steps));
  const lat = latencyStats(samples);
  const selftest = runner.selftest();
  const c = model.config;

  return [
    `sparrow demo — ${path.basename(modelPath)}`,
    `model: ${c.n_layers} layers, d_in ${c.d_in}, H ${c.d_model}, P ${c.d_state} complex states, d_out ${c.d_out}, ${c.act}${c.gate ? ' + gate' : ''}`,
    `       ${formatNumber(summary.nonzeros)} of ${formatNumber(summary.parameters)} parameters nonzero (matrix sparsity ${(summary.matrixSparsity * 100).toFixed(1)}%), ${formatNumber(summary.macsPerStep)} MACs/step`,
    '',
    compileSummary,
    '',
    formatTable(['memory', 'bytes', ''], [
      ['firmware.wasm (code + data)', manifest.firmware.wasmBytes, formatBytes(manifest.firmware.wasmBytes)],
      ['initialised data (weights, indices, golden)', manifest.firmware.dataBytes, formatBytes(manifest.firmware.dataBytes)],
      ['mutable RAM (state, scratch, io)', manifest.firmware.mutableBytes, formatBytes(manifest.firmware.mutableBytes)],
      ['linear memory (fixed)', manifest.firmware.linearMemoryBytes, formatBytes(manifest.firmware.linearMemoryBytes)],
    ]),
    '',
    `latency, measured in Node ${process.version} (V8) on ${os.cpus()[0]?.model ?? 'this CPU'}, ${formatNumber(lat.samples)} streamed steps incl. JS→wasm call and copies:`,
    `  p50 ${lat.p50Us.toFixed(2)} µs/step, p90 ${lat.p90Us.toFixed(2)} µs/step, p99 ${lat.p99Us.toFixed(2)} µs/step (${formatNumber(Math.round(1e6 / lat.p50Us))} steps/s at p50)`,
    '',
    `outputs: max |firmware − float64 reference| / (1 + |ref|) over ${checkSteps} steps = ${maxRel.toExponential(2)} (f32 arithmetic)`,
    `         last step: [${Array.from(last.slice(0, 8)).map((v) => v.toFixed(4)).join(', ')}${d_out > 8 ? ', …' : ''}]`,
    `selftest(): ${selftest} mismatches (0 = pass)`,
    `firmware written to ${path.join(outDir, 'firmware.wasm')}; try: node dist/sparrow.cjs info ${path.join(outDir, 'firmware.wasm')}`,
  ].join('\n');
}
