// ============================================================================
// Atomic file writes: write a temporary file in the same directory, then
// rename it over the target. A crash or an error mid-write leaves either the
// old file or nothing, never a half-written model or firmware.
// ============================================================================

import * as fs from 'fs';
import * as path from 'path';
import { SparrowError } from './errors';

export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new SparrowError(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
