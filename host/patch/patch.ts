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
import { mapFirmware } from './firmware_map';
import { decodePatch, encodePatch, Patch, sha256 } from './format';

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
  const tensors = [...diffModels(base, tuned, names.base, names.tuned), ...goldenChanges(map, tuned)];
  const result = rewriteFirmware(map, tensors, names.tuned);
  checkPatched(result, map, names.tuned);
  const patch: Patch = { baseSha256: sha256(baseFirmware), resultSha256: sha256(result), baseBytes: baseFirmware.length, resultBytes: result.length, tensors };
  return { bytes: encodePatch(patch), patch, result };
}

/**
 * The firmware `patchBytes` makes of `firmware`: refuses a corrupted patch (checksum), a
 * firmware other than the one it was made for (SHA-256), and a result other than the one
 * it promises; the result passes the compiler's checks and selftest().
 */
export function applyPatch(firmware: Uint8Array, patchBytes: Uint8Array, names: { firmware: string; patch: string }): { wasm: Uint8Array; patch: Patch } {
  const patch = decodePatch(patchBytes, names.patch);
  const have = sha256(firmware);
  if (have !== patch.baseSha256) {
    throw new SparrowError(`${names.patch}: made for another firmware (sha256 ${short(patch.baseSha256)}, ${patch.baseBytes} B); ${names.firmware} has sha256 ${short(have)} (${firmware.length} B)`);
  }
  const map = mapFirmware(firmware, names.firmware);
  const wasm = rewriteFirmware(map, patch.tensors, names.patch);
  const got = sha256(wasm);
  if (got !== patch.resultSha256) {
    throw new SparrowError(`${names.patch}: applying it gives sha256 ${short(got)}, not the ${short(patch.resultSha256)} it was made for (written by another sparrow version?)`);
  }
  checkPatched(wasm, map, names.patch);
  return { wasm, patch };
}
