// ============================================================================
// The op counters of a `--profile` integer firmware (docs/firmware-abi.md, "Op
// counters"), read after a run: what `sparrow run --counters` prints.
// ============================================================================

import { ABI_I16 } from '../compile/abi_i16';
import { SparrowError } from '../util/errors';
import { FirmwareRunner } from './runtime';

export const COUNTER_NAMES = [
  'matrix MACs', 'element-wise multiplies', 'weight loads', 'index loads', 'activation loads',
  'state loads', 'parameter loads', 'table look-ups', 'loop branches', 'steps', 'SMA gate ran', 'SMA gate skipped',
] as const;

/** The counters since the last reset(), by name; refuses a firmware that does not count. */
export function readCounters(runner: FirmwareRunner, what: string): { name: string; total: number }[] {
  const exp = runner.exports as unknown as { counters_ptr?: () => number; memory: WebAssembly.Memory };
  const ptr = runner.ioFormat === 'i16' && exp.counters_ptr ? exp.counters_ptr() : 0;
  if (ptr === 0) throw new SparrowError(`${what}: has no op counters; compile the quantized model with \`sparrow compile --profile\``);
  const values = Array.from(new BigUint64Array(exp.memory.buffer, ptr, ABI_I16.N_COUNTERS), Number);
  return values.map((total, i) => ({ name: COUNTER_NAMES[i], total }));
}
