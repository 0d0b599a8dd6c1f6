// ============================================================================
// Measured host latency of a firmware's step() in Node (V8). Each step is
// timed alone with process.hrtime after a warm-up, with fresh input every
// step (so f32 states never decay into subnormals). The call overhead is
// measured apart by timing the identical loop against the empty-step firmware
// (empty_step.ts): what is left, step − overhead, is the firmware's compute.
// ============================================================================

import * as os from 'os';
import { instantiateFirmware } from '../runtime/runtime';
import { makeRng } from '../util/rng';
import { instantiateEmptyStep } from './empty_step';
import { latencyStats, LatencyStats, timeEach } from './timing';

export interface StepTiming {
  step: LatencyStats;
  /** The same loop (input copy + call) against a firmware whose step does nothing. */
  overhead: LatencyStats;
  /** step.p50 − overhead.p50, floored at 0: the compute of one step. */
  computeP50Us: number;
}

/** Time `steps` calls of step() after `warmup` untimed ones; inputs are N(0,1) scaled to the firmware's input format. */
export function benchStep(wasm: Uint8Array, steps: number, warmup: number): StepTiming {
  const fw = instantiateFirmware(wasm, 'bench');
  fw.init();
  const dIn = fw.input_len();
  const integer = fw.io_format() === 1;
  const rng = makeRng(11);
  const pool = Float64Array.from({ length: 4096 }, () => rng.normal());
  const scale = integer ? 2 ** (fw.input_frac!() - 2) : 1;
  const input = integer ? new Int16Array(fw.memory.buffer, fw.input_ptr(), dIn) : new Float32Array(fw.memory.buffer, fw.input_ptr(), dIn);
  const empty = instantiateEmptyStep();
  const emptyInput = integer ? new Int16Array(empty.memory.buffer, 0, dIn) : new Float32Array(empty.memory.buffer, 0, dIn);
  // One loop shape for both, so the difference is the step's own work.
  const loop = (buf: Int16Array | Float32Array, call: () => void) => {
    let k = 0;
    return () => {
      for (let j = 0; j < dIn; j++) buf[j] = pool[k++ & 4095] * scale;
      call();
    };
  };
  const step = latencyStats(timeEach(loop(input, fw.step), steps, warmup));
  const overhead = latencyStats(timeEach(loop(emptyInput, empty.step), steps, warmup));
  return { step, overhead, computeP50Us: Math.max(0, step.p50Us - overhead.p50Us) };
}

/** "AMD EPYC …, 2 cores, 24 GiB" — the machine line every benchmark record carries. */
export function machineDescription(): string {
  return `${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`;
}
