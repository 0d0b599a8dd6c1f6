// ============================================================================
// NumPy .npy arrays (format versions 1.0, 2.0, 3.0): magic "\x93NUMPY", version,
// header length, a Python-dict header {'descr', 'fortran_order', 'shape'},
// then C-order little-endian data. Spec: numpy.lib.format.
// ============================================================================

import { byNpyCode, ElementArray, elementTypeOf } from '../util/elements';
import { inputError } from '../util/errors';

export type NpyData = ElementArray;

export interface NpyArray {
  dtype: string;
  shape: number[];
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function parseNpy(bytes: Uint8Array, file: string): NpyArray {
  if (bytes.length < 10 || !MAGIC.every((m, i) => bytes[i] === m)) throw inputError(file, undefined, 'not a .npy file (bad magic)');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw inputError(file, undefined, 'truncated .npy header');
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw inputError(file, undefined, `unsupported .npy format version ${major}`);
  }
  if (headerStart + headerLen > bytes.length) throw inputError(file, undefined, 'truncated .npy header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw inputError(file, undefined, `malformed .npy header: ${header.trim()}`);
  if (fortran === 'True') throw inputError(file, undefined, 'Fortran-order arrays are not supported; save with np.ascontiguousarray');
  const order = descr[0];
  const code = descr.slice(1);
  if (order === '>') throw inputError(file, undefined, `big-endian dtype ${descr} is not supported; convert with arr.astype('<${code}')`);
  const dt = byNpyCode(code);
  if (!dt || !(order === '<' || order === '|')) throw inputError(file, undefined, `unsupported dtype ${descr} (use float32, float64 or an integer type)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw inputError(file, undefined, `bad shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLen;
  const need = count * dt.bytes;
  if (bytes.length - dataStart < need) throw inputError(file, undefined, `truncated: shape (${shape.join(', ')}) needs ${need} data bytes, file has ${bytes.length - dataStart}`);
  // A copy, not bytes.slice(): on a Node Buffer that is a view into a shared pool.
  return { dtype: descr, shape, data: dt.view(new Uint8Array(bytes.subarray(dataStart, dataStart + need)).buffer) };
}

function descrOf(data: NpyData): string {
  const e = elementTypeOf(data);
  return (e.bytes === 1 ? '|' : '<') + e.npy;
}

/** Version 1.0, header padded with spaces and a newline so the data starts at a multiple of 64 bytes, as NumPy writes it. */
export function serializeNpy(data: NpyData, shape: number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descrOf(data)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(total + raw.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(raw, total);
  return out;
}
