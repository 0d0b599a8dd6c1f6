// ============================================================================
// Input and output sequences of `sparrow run`: [T, width] float32, row-major,
// from and to .npy or .csv. CSV: one time step per line, comma-separated; a
// first line of names is skipped, as are blank lines and `#` comments.
// ============================================================================

import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../util/atomic';
import { inputError, SparrowError } from '../util/errors';
import { parseNpy, serializeNpy } from './npy';

export interface Sequence {
  T: number;
  width: number;
  /** [T, width] row-major. */
  data: Float32Array;
}

function readBytes(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new SparrowError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function fromNpy(file: string): Sequence {
  const arr = parseNpy(readBytes(file), file);
  if (arr.shape.length > 2 || arr.shape.length === 0) throw inputError(file, undefined, `expected a [T, d_in] array, got shape (${arr.shape.join(', ')})`);
  const T = arr.shape[0];
  const width = arr.shape.length === 2 ? arr.shape[1] : 1;
  const data = new Float32Array(T * width);
  for (let i = 0; i < data.length; i++) data[i] = Number(arr.data[i]);
  return { T, width, data };
}

function fromCsv(file: string): Sequence {
  const text = new TextDecoder().decode(readBytes(file));
  const rows: number[][] = [];
  let width = -1;
  let headerSeen = false;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '' || line.startsWith('#')) continue;
    const cells = line.split(',').map((c) => c.trim());
    // The first line is a header of column names when any of its cells is not a number.
    if (rows.length === 0 && !headerSeen && cells.some((c) => c === '' || Number.isNaN(Number(c)))) {
      headerSeen = true;
      width = cells.length;
      continue;
    }
    const values = cells.map((c, j) => {
      const v = c === '' ? NaN : Number(c);
      if (!Number.isFinite(v)) throw inputError(file, `line ${n + 1}, column ${j + 1}`, `"${c}" is not a finite number`);
      return v;
    });
    if (width >= 0 && values.length !== width) throw inputError(file, `line ${n + 1}`, `has ${values.length} values, earlier lines have ${width}`);
    width = values.length;
    rows.push(values);
  }
  const data = new Float32Array(rows.length * Math.max(width, 0));
  rows.forEach((r, t) => data.set(r, t * width));
  return { T: rows.length, width: Math.max(width, 0), data };
}

/** Read a [T, width] sequence; with `expectedWidth`, a mismatch is an error naming both widths. */
export function readSequence(file: string, expectedWidth?: number): Sequence {
  const ext = path.extname(file).toLowerCase();
  let seq: Sequence;
  if (ext === '.npy') seq = fromNpy(file);
  else if (ext === '.csv') seq = fromCsv(file);
  else throw inputError(file, undefined, `unknown sequence format "${ext}" (use .npy or .csv)`);
  if (seq.T === 0) throw inputError(file, undefined, 'has zero time steps');
  for (let i = 0; i < seq.data.length; i++) {
    if (!Number.isFinite(seq.data[i])) throw inputError(file, `step ${Math.floor(i / seq.width)}, feature ${i % seq.width}`, `non-finite value ${seq.data[i]}`);
  }
  if (expectedWidth !== undefined && seq.width !== expectedWidth) {
    throw inputError(file, undefined, `has ${seq.width} values per step, the model takes d_in = ${expectedWidth}`);
  }
  return seq;
}

/** Shortest text that reads back as the same float32. */
function f32Text(v: number): string {
  for (let p = 6; p <= 9; p++) {
    const s = Number(v.toPrecision(p)).toString();
    if (Math.fround(Number(s)) === v) return s;
  }
  return v.toString();
}

export function formatSequenceCsv(data: Float32Array, T: number, width: number): string {
  const lines: string[] = [];
  for (let t = 0; t < T; t++) {
    const row: string[] = [];
    for (let j = 0; j < width; j++) row.push(f32Text(data[t * width + j]));
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

/** Write [T, width] outputs as .npy (float32) or .csv, atomically. */
export function writeSequence(file: string, data: Float32Array, T: number, width: number): void {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.npy') writeFileAtomic(file, serializeNpy(data, [T, width]));
  else if (ext === '.csv') writeFileAtomic(file, formatSequenceCsv(data, T, width));
  else throw inputError(file, undefined, `unknown output format "${ext}" (use .npy or .csv)`);
}
