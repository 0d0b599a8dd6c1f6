// ============================================================================
// Reading firmware files with one-line errors.
// ============================================================================

import * as fs from 'fs';
import { SparrowError } from '../util/errors';

export function readFirmware(file: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    throw new SparrowError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new SparrowError(`${file}: not a WebAssembly module (bad magic)`);
  }
  return bytes;
}
