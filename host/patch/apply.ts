// ============================================================================
// Write new values into an integer firmware, producing the bytes a direct
// compile of the changed model gives (the compiler links the model's code and
// data verbatim, host/compile/compile.ts, so each value has one place):
//
//   vectors and golden outputs   the element's bytes in the data segment;
//   table-driven matrices        the int8 of the stored entry; the index (the
//                                sparsity pattern) stays as it is;
//   weights in code              the matrix's generated function: decoded,
//                                changed, generated again (unrolledFunction).
//
// Then the model's data segments are laid out again from the memory image by
// the compiler's own packSegments (a byte that turned zero or nonzero moves a
// segment boundary exactly as in a direct compile) and every other section is
// copied byte for byte.
// ============================================================================

import { checkForRuntime } from '../compile/runtime_check';
import { unrolledFunction } from '../compile/unrolled';
import { QMatrix } from '../model/quant';
import { createRunner } from '../runtime/runtime';
import { SparrowError } from '../util/errors';
import { GeneratedFunction, replaceFunctionBodies } from '../wasm/functions';
import { packSegments, setMemoryAndData } from '../wasm/link';
import { elementBytes, FirmwareMap, readElement, tensorLength, writeElement } from './firmware_map';
import { PatchTensor } from './format';

const RANGE = { i8: [-128, 127], i16: [-32768, 32767], i32: [-0x80000000, 0x7fffffff] } as const;

/** Position k of a sorted array, or −1. */
function find(sorted: Int32Array, value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] === value) return mid;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * The firmware of `map` with `tensors` written into it (not yet checked: see checkPatched).
 * `source` names the patch in errors. No entries gives the firmware back as this sparrow
 * lays it out, which is how a caller tells that a firmware is in that form.
 */
export function rewriteFirmware(map: FirmwareMap, tensors: PatchTensor[], source: string): Uint8Array {
  const image = map.image.slice();
  const bodies = new Map<number, GeneratedFunction>();
  const seen = new Set<string>();
  for (const t of tensors) {
    const slot = map.tensors.get(t.name);
    if (!slot) throw new SparrowError(`${source}: tensor '${t.name}' is not in ${map.file}`);
    if (seen.has(t.name)) throw new SparrowError(`${source}: tensor '${t.name}' appears twice`);
    seen.add(t.name);
    const length = tensorLength(slot);
    const type = slot.kind === 'data' ? slot.type : 'i8';
    const changed: QMatrix | undefined = slot.kind === 'code' ? { ...slot.matrix, values: slot.matrix.values.slice() } : undefined;
    t.index.forEach((index, i) => {
      const value = t.value[i];
      const at = `${source}: ${t.name}[${index}]`;
      if (index < 0 || index >= length) throw new SparrowError(`${at}: index out of range (the tensor has ${length} elements in ${map.file})`);
      if (value < RANGE[type][0] || value > RANGE[type][1]) throw new SparrowError(`${at}: ${value} does not fit ${type}`);
      if (slot.kind === 'data') {
        writeElement(image, slot.type, slot.addr + index * elementBytes(slot.type), value);
        return;
      }
      const where = `${at} (row ${Math.floor(index / slot.cols)}, column ${index % slot.cols})`;
      const patternError = (problem: string): never => {
        throw new SparrowError(`${where}: ${problem}; a patch changes values, not the sparsity pattern (compile the model and flash the whole firmware)`);
      };
      if (value === 0) patternError('the new value is 0');
      if (slot.kind === 'table') {
        const k = slot.positions ? find(slot.positions, index) : index;
        if (k < 0 || readElement(image, 'i8', slot.values + k) === 0) patternError(`${map.file} holds no weight there`);
        writeElement(image, 'i8', slot.values + k, value);
      } else {
        const m = changed!;
        const row = Math.floor(index / m.cols);
        let k = m.indptr![row];
        while (k < m.indptr![row + 1] && m.indices![k] !== index % m.cols) k++;
        if (k === m.indptr![row + 1]) patternError(`${map.file} holds no weight there`);
        m.values[k] = value;
      }
    });
    if (slot.kind === 'code') bodies.set(slot.defined, unrolledFunction(changed!));
  }
  const withCode = bodies.size > 0 ? replaceFunctionBodies(map.module.bytes, bodies) : map.module.bytes;
  return setMemoryAndData(withCode, {
    pages: map.pages,
    keepSegments: map.engineSegments,
    segments: packSegments(map.modelRanges.map((r) => ({ offset: r.start, data: image.subarray(r.start, r.end) }))),
  });
}

/** What `sparrow compile` checks before it writes a firmware: the WAMR-classic checks and selftest() == 0. */
export function checkPatched(wasm: Uint8Array, map: FirmwareMap, what: string): void {
  const check = checkForRuntime(wasm, 'wamr-classic', { expectedPages: map.pages, integer: true });
  if (check.problems.length > 0) throw new SparrowError(`${what}: the patched firmware fails its checks: ${check.problems.join('; ')}`);
  const misses = createRunner(wasm, what).selftest();
  if (misses !== 0) throw new SparrowError(`${what}: the patched firmware fails selftest() (${misses} golden outputs differ)`);
}
