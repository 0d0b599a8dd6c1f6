// ============================================================================
// The demo (`npm start`): compile a shipped model to f32 firmware and, after
// w8a16 quantization, to integer firmware; stream a signal through each one
// step at a time as a device would; report what an embedded engineer asks
// first: does it match the reference, how big is it, how fast is it.
// ============================================================================

import * as os from 'os';
import * as path from 'path';
import { latencyStats, LatencyStats, timeEach } from '../bench/timing';
import { compileToDirectory, FileManifest } from '../compile/files';
import { quantizeModelFile } from '../compress/files';
import { describeModel } from '../model/describe';
import { readModel } from '../model/model';
import { writeSequence } from '../model/sequence';
import { stepFloat, zeroState } from '../reference/float';
import { formatBytes, formatNumber, formatTable } from '../report/table';
import { createRunner, FirmwareRunner } from '../runtime/runtime';
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

interface Measured {
  manifest: FileManifest;
  latency: LatencyStats;
  /** Against the float64 reference over the first steps. */
  maxRelError: number;
  sqnrDb: number;
  selftest: number;
}

function measure(runner: FirmwareRunner, manifest: FileManifest, input: Float32Array, steps: number, ref: Float64Array, checkSteps: number, dIn: number): Measured {
  const out = runner.run(input.subarray(0, checkSteps * dIn), checkSteps);
  let maxRel = 0;
  let sig = 0;
  let noise = 0;
  for (let i = 0; i < out.length; i++) {
    maxRel = Math.max(maxRel, Math.abs(out[i] - ref[i]) / (1 + Math.abs(ref[i])));
    sig += ref[i] * ref[i];
    noise += (out[i] - ref[i]) ** 2;
  }
  runner.reset();
  const samples = timeEach((i) => runner.step(input.subarray((i % steps) * dIn, ((i % steps) + 1) * dIn)), steps, Math.min(1000, steps));
  return { manifest, latency: latencyStats(samples), maxRelError: maxRel, sqnrDb: 10 * Math.log10(sig / noise), selftest: runner.selftest() };
}

export function runDemo(modelPath: string, steps: number, outDir = path.join('out', 'demo')): string {
  const model = readModel(modelPath);
  const summary = describeModel(model);
  const { d_in, d_out } = model.config;
  const input = chirp(steps, d_in, 7);
  const checkSteps = Math.min(steps, 2000);
  const state = zeroState(model);
  const ref = new Float64Array(checkSteps * d_out);
  for (let t = 0; t < checkSteps; t++) ref.set(stepFloat(model, state, input.subarray(t * d_in, (t + 1) * d_in)), t * d_out);

  // f32 firmware.
  const f32Dir = path.join(outDir, 'f32');
  const f32 = compileToDirectory(modelPath, f32Dir);
  const f32m = measure(createRunner(readFirmware(path.join(f32Dir, 'firmware.wasm'))), f32.manifest, input, steps, ref, checkSteps, d_in);

  // Integer firmware: calibrate on another stretch of the same kind of signal.
  const calibFile = path.join(outDir, 'calibration.npy');
  writeSequence(calibFile, chirp(2000, d_in, 3), 2000, d_in);
  const qPath = path.join(outDir, 'model.q.safetensors');
  const quant = quantizeModelFile(modelPath, qPath, { calib: calibFile });
  const intDir = path.join(outDir, 'int');
  const i16 = compileToDirectory(qPath, intDir);
  const i16m = measure(createRunner(readFirmware(path.join(intDir, 'firmware.wasm'))), i16.manifest, input, steps, ref, checkSteps, d_in);

  const c = model.config;
  const both = (f: (m: Measured) => string | number): [string | number, string | number] => [f(f32m), f(i16m)];
  const fmtUs = (us: number): string => `${us.toFixed(2)} µs`;
  return [
    `sparrow demo — ${path.basename(modelPath)}`,
    `model: ${c.n_layers} layers, d_in ${c.d_in}, H ${c.d_model}, P ${c.d_state} complex states, d_out ${c.d_out}, ${c.act}${c.gate ? ' + gate' : ''}${c.sma ? ' + SMA' : ''}`,
    `       ${formatNumber(summary.nonzeros)} of ${formatNumber(summary.parameters)} parameters nonzero (matrix sparsity ${(summary.matrixSparsity * 100).toFixed(1)}%), ${formatNumber(summary.macsPerStep)} MACs/step${c.sma ? ` with every gate running (SMA skips the gates' ${formatNumber(summary.gateMacsPerStep)} on steps whose decision is off)` : ''}`,
    `       w8a16 quantization calibrated on 2,000 steps: output SQNR ${quant.sqnr.outputDb.toFixed(1)} dB on the calibration data`,
    '',
    formatTable(['', 'f32 firmware', 'w8a16 integer firmware'], [
      ['firmware.wasm (code + data)', ...both((m) => formatBytes(m.manifest.firmware.wasmBytes))],
      ['initialised data (flash)', ...both((m) => formatBytes(m.manifest.firmware.dataBytes))],
      ['mutable RAM (state, scratch, io)', ...both((m) => formatBytes(m.manifest.firmware.mutableBytes))],
      ['linear memory, fixed', ...both((m) => `${formatBytes(m.manifest.firmware.linearMemoryBytes)} (${m.manifest.firmware.pages} page${m.manifest.firmware.pages === 1 ? '' : 's'})`)],
      ['step latency p50 (measured, Node)', ...both((m) => fmtUs(m.latency.p50Us))],
      ['step latency p99 (measured, Node)', ...both((m) => fmtUs(m.latency.p99Us))],
      [`max |out − float64 ref|/(1+|ref|), ${checkSteps} steps`, ...both((m) => m.maxRelError.toExponential(2))],
      ['output SQNR vs float64 reference', ...both((m) => `${m.sqnrDb.toFixed(1)} dB`)],
      ['selftest() mismatches', `${f32m.selftest} (tol 1e-4)`, `${i16m.selftest} (bit-exact)`],
    ]),
    '',
    `latency: ${formatNumber(steps)} streamed steps per firmware after 1,000 warm-up steps, each timed alone incl. the JS→wasm call and I/O conversion,`,
    `         Node ${process.version} (V8) on ${os.cpus()[0]?.model ?? 'this CPU'}. This is host speed, not a microcontroller's.`,
    `firmware: ${path.join(f32Dir, 'firmware.wasm')} and ${path.join(intDir, 'firmware.wasm')} (each with manifest.json);`,
    `          try: node dist/sparrow.cjs info ${path.join(intDir, 'firmware.wasm')}`,
  ].join('\n');
}
