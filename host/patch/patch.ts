// ============================================================================
// Firmware patches, the library API under `sparrow diff` and `sparrow patch`:
//
//   makePatch(base firmware, base model, tuned model) → patch bytes
//   applyPatch(base firmware, patch bytes)            → tuned firmware
//
// The tuned firmware is byte for byte what `sparrow compile` gives for the
// tuned model with the options the base firmware was compiled with (the
// patch's result hash holds applyPatch to that, tests/patch/ holds the
// compiler to it). Both refuse rather than write something else.
// ============================================================================

import { QuantModel } from '../model/quant';
import { SparrowError } from '../util/errors';
import { checkPatched, rewriteFirmware } from './apply';
import { checkFirmwareHolds, diffModels, goldenChanges } from './diff';
import { createRunner } from '../runtime/runtime';
import { FirmwareMap, mapFirmware, readElement, readTensor } from './firmware_map';
import { BaseValues, decodePatch, encodePatch, Patch, PatchTensor, resolvePatch, sha256 } from './format';

/** The values of the firmware of `map`, the base a patch's differences are taken from. */
export function firmwareValues(map: FirmwareMap): BaseValues {
  const cache = new Map<string, Int32Array>();
  return {
    file: map.file,
    values(name: string): Int32Array | undefined {
      const slot = map.tensors.get(name);
      if (!slot) return undefined;
      if (!cache.has(name)) cache.set(name, readTensor(map, slot));
      return cache.get(name);
    },
  };
}

const short = (hash: string): string => `${hash.slice(0, 12)}…`;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export interface MadePatch {
  /** The patch file. */
  bytes: Uint8Array;
  patch: Patch;
  /** The firmware the patch produces from the base firmware. */
  result: Uint8Array;
  /** Golden outputs of selftest() that change with the values (recomputed by applyPatch, not carried). */
  goldenChanged: number;
}

/**
 * The firmware of `map` with the model values `tensors` written, and selftest()'s golden
 * outputs replaced by what that firmware computes on its own golden inputs. The integer
 * firmware is bit-exact with the integer reference, so these are the golden outputs a direct
 * compile of the changed model embeds; the SHA-256 the patch promises then checks the whole
 * result. A patch need not carry them (for a wide output, 16 steps × d_out values that nearly
 * all change with any weight: most of the patch).
 */
export function withRegeneratedGolden(map: FirmwareMap, tensors: PatchTensor[], source: string): { wasm: Uint8Array; goldenChanged: number } {
  const values = rewriteFirmware(map, tensors, source);
  const slot = map.tensors.get('golden.outputs')!;
  if (slot.kind !== 'data') throw new Error('golden outputs are not in the data segment');
  const runner = createRunner(values, source);
  runner.reset();
  const outputs = runner.runRaw(map.goldenInputs, map.goldenSteps);
  const index: number[] = [];
  outputs.forEach((v, i) => {
    if (readElement(map.image, 'i16', slot.addr + 2 * i) !== v) index.push(i);
  });
  if (index.length === 0) return { wasm: values, goldenChanged: 0 };
  const wasm = rewriteFirmware(map, [...tensors, { name: 'golden.outputs', index: Int32Array.from(index), value: Int32Array.from(index, (i) => outputs[i]) }], source);
  return { wasm, goldenChanged: index.length };
}

/**
 * The patch that turns `baseFirmware`, compiled from `base`, into the firmware of `tuned`.
 * `checkBase` (default true) first proves the firmware holds `base` (every value, stored
 * entry, shift and golden output); a caller that has just compiled it may skip that.
 */
export function makePatch(baseFirmware: Uint8Array, base: QuantModel, tuned: QuantModel, names: { firmware: string; base: string; tuned: string }, opts: { checkBase?: boolean } = {}): MadePatch {
  const map = mapFirmware(baseFirmware, names.firmware);
  if (!sameBytes(rewriteFirmware(map, [], names.firmware), baseFirmware)) {
    throw new SparrowError(`${names.firmware}: its data segments are not laid out the way this sparrow compiles (compiled by an earlier version?); compile ${names.base} again and flash that firmware once`);
  }
  if (opts.checkBase ?? true) checkFirmwareHolds(map, base, names.base);
  // The patch carries the model's values only; the golden outputs are the patched firmware's own
  // (regenerateGolden), which must be the integer reference's: a direct compile's.
  const tensors = diffModels(base, tuned, names.base, names.tuned);
  const { wasm: result, goldenChanged } = withRegeneratedGolden(map, tensors, names.tuned);
  const off = goldenChanges(mapFirmware(result, names.tuned), tuned);
  if (off.length > 0) throw new Error(`${names.tuned}: the patched firmware's outputs differ from the integer reference at ${off[0].index.length} golden outputs (a sparrow bug; please report it with both models)`);
  checkPatched(result, map, names.tuned);
  const patch: Patch = { baseSha256: sha256(baseFirmware), resultSha256: sha256(result), baseBytes: baseFirmware.length, resultBytes: result.length, tensors };
  return { bytes: encodePatch(patch, firmwareValues(map)), patch, result, goldenChanged };
}

/**
 * The firmware `patchBytes` makes of `firmware`: refuses a corrupted patch (checksum), a
 * firmware other than the one it was made for (SHA-256), and a result other than the one
 * it promises; the result passes the compiler's checks and selftest().
 */
export function applyPatch(firmware: Uint8Array, patchBytes: Uint8Array, names: { firmware: string; patch: string }): { wasm: Uint8Array; patch: Patch; goldenChanged: number } {
  const decoded = decodePatch(patchBytes, names.patch);
  const have = sha256(firmware);
  if (have !== decoded.baseSha256) {
    throw new SparrowError(`${names.patch}: made for another firmware (sha256 ${short(decoded.baseSha256)}, ${decoded.baseBytes} B); ${names.firmware} has sha256 ${short(have)} (${firmware.length} B)`);
  }
  const map = mapFirmware(firmware, names.firmware);
  const patch = resolvePatch(decoded, firmwareValues(map), names.patch);
  // Patches from before golden regeneration carry the golden outputs themselves.
  const carried = patch.tensors.find((t) => t.name === 'golden.outputs');
  const { wasm, goldenChanged } = carried ? { wasm: rewriteFirmware(map, patch.tensors, names.patch), goldenChanged: carried.index.length } : withRegeneratedGolden(map, patch.tensors, names.patch);
  const got = sha256(wasm);
  if (got !== patch.resultSha256) {
    throw new SparrowError(`${names.patch}: applying it gives sha256 ${short(got)}, not the ${short(patch.resultSha256)} it was made for (written by another sparrow version?)`);
  }
  checkPatched(wasm, map, names.patch);
  return { wasm, patch, goldenChanged };
}
