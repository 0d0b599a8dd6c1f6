// ============================================================================
// Atomic file writes: write a temporary file in the same directory, then
// rename it over the target. A crash or an error mid-write leaves either the
// old file or nothing, never a half-written model or firmware.
// ============================================================================

import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { SparrowError } from './errors';

export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const dir = path.dirname(path.resolve(file));
  // pid + random: no collision with another process or a leftover of a killed one.
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(tmp, data, { flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // The temporary file never existed or cannot be removed; the original error is what matters.
    }
    throw new SparrowError(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
