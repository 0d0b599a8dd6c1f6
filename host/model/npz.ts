// ============================================================================
// NumPy .npz archives: a zip of .npy files (np.savez / np.savez_compressed).
// ============================================================================

import { unzipSync } from 'fflate';
import { inputError } from '../util/errors';
import { NpyArray, parseNpy } from './npy';

/** Arrays by name (without the .npy suffix). */
export function parseNpz(bytes: Uint8Array, file: string): Map<string, NpyArray> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (e) {
    throw inputError(file, undefined, `not a valid .npz (zip) archive (${(e as Error).message})`);
  }
  const out = new Map<string, NpyArray>();
  for (const [name, data] of Object.entries(entries)) {
    if (!name.endsWith('.npy')) continue;
    out.set(name.slice(0, -4), parseNpy(data, `${file}:${name}`));
  }
  return out;
}
