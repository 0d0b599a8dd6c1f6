// ============================================================================
// The firmware patch file (`sparrow diff … -o update.patch`): the changed
// values of an integer model, addressed by tensor name and element index,
// bound to the one firmware they apply to.
//
//   offset  bytes  field
//   0       8      magic "SPRPATCH"
//   8       1      format version (1)
//   9       32     SHA-256 of the base firmware (the only firmware it applies to)
//   41      32     SHA-256 of the firmware it produces
//   73      4      base firmware bytes (u32 LE)
//   77      4      resulting firmware bytes (u32 LE)
//   81      4      body bytes (u32 LE)
//   85      body   u32 tensor count, then per tensor: name (u32 length, UTF-8), u32 entry
//                  count, and per entry the index gap (index − previous index − 1; the
//                  first entry: its index) and the new value (s32); every integer LEB128
//   end−32  32     SHA-256 of everything before it
//
// A value is an element of the integer model: a matrix is addressed by row-major
// position in its logical [rows, cols] shape, whatever its storage (dense, CSR, a
// sparse format or weights in code). Entries per tensor are in increasing index
// order. The checksum catches truncation and corruption; it is not a signature
// (anyone can recompute it), so sign the file if the channel needs authenticity.
// ============================================================================

import { createHash } from 'crypto';
import { TextDecoder } from 'util';
import { SparrowError } from '../util/errors';
import { encodeS32, encodeU32, readS32, readU32, reader, Reader, skipBytes } from '../wasm/leb128';

export const PATCH_MAGIC = 'SPRPATCH';
export const PATCH_VERSION = 1;
const HEAD_BYTES = 85;
const CHECKSUM_BYTES = 32;

/** The new values of one tensor: index[i] (increasing) gets value[i]. */
export interface PatchTensor {
  name: string;
  index: Int32Array;
  value: Int32Array;
}

export interface Patch {
  /** Hex SHA-256 of the firmware the patch applies to, and of the one it produces. */
  baseSha256: string;
  resultSha256: string;
  baseBytes: number;
  resultBytes: number;
  tensors: PatchTensor[];
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function encodePatch(p: Patch): Uint8Array {
  const body: number[] = [...encodeU32(p.tensors.length)];
  for (const t of p.tensors) {
    const name = new TextEncoder().encode(t.name);
    body.push(...encodeU32(name.length), ...name, ...encodeU32(t.index.length));
    let previous = -1;
    t.index.forEach((index, i) => {
      if (index <= previous) throw new Error(`patch: ${t.name}: indices must increase (${index} after ${previous})`);
      body.push(...encodeU32(index - previous - 1), ...encodeS32(t.value[i]));
      previous = index;
    });
  }
  const out = new Uint8Array(HEAD_BYTES + body.length + CHECKSUM_BYTES);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(PATCH_MAGIC), 0);
  out[8] = PATCH_VERSION;
  out.set(Buffer.from(p.baseSha256, 'hex'), 9);
  out.set(Buffer.from(p.resultSha256, 'hex'), 41);
  view.setUint32(73, p.baseBytes, true);
  view.setUint32(77, p.resultBytes, true);
  view.setUint32(81, body.length, true);
  out.set(body, HEAD_BYTES);
  out.set(createHash('sha256').update(out.subarray(0, out.length - CHECKSUM_BYTES)).digest(), out.length - CHECKSUM_BYTES);
  return out;
}

/** Parse and verify a patch; every problem is one line naming `file`. */
export function decodePatch(bytes: Uint8Array, file: string): Patch {
  const bad = (problem: string): never => {
    throw new SparrowError(`${file}: ${problem}`);
  };
  const magic = Buffer.from(bytes.subarray(0, 8)).toString('latin1');
  if (bytes.length < 8 || magic !== PATCH_MAGIC) {
    if (PATCH_MAGIC.startsWith(magic) && bytes.length < 8) bad(`truncated patch (${bytes.length} bytes)`);
    bad('not a sparrow firmware patch (bad magic)');
  }
  if (bytes.length > 8 && bytes[8] !== PATCH_VERSION) bad(`patch format version ${bytes[8]} is not supported (this sparrow reads version ${PATCH_VERSION})`);
  if (bytes.length < HEAD_BYTES + CHECKSUM_BYTES) bad(`truncated patch (${bytes.length} bytes; the header and checksum alone take ${HEAD_BYTES + CHECKSUM_BYTES})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const expected = HEAD_BYTES + view.getUint32(81, true) + CHECKSUM_BYTES;
  if (bytes.length < expected) bad(`truncated patch (${bytes.length} of ${expected} bytes)`);
  if (bytes.length > expected) bad(`${bytes.length - expected} unexpected bytes after the patch's checksum`);
  const sum = createHash('sha256').update(bytes.subarray(0, expected - CHECKSUM_BYTES)).digest();
  if (!sum.equals(Buffer.from(bytes.subarray(expected - CHECKSUM_BYTES)))) bad('checksum mismatch: the patch is corrupted or was modified after `sparrow diff` wrote it');

  const r = reader(bytes, HEAD_BYTES, expected - CHECKSUM_BYTES, 'patch body');
  const tensors: PatchTensor[] = [];
  try {
    const count = readU32(r);
    for (let t = 0; t < count; t++) tensors.push(readTensor(r));
  } catch (e) {
    // Only a patch written by something other than `sparrow diff` (with a valid checksum) gets here.
    bad(`malformed body (${(e as Error).message.replace(/^wasm: /, '')})`);
  }
  if (r.pos !== r.end) bad(`malformed body (${r.end - r.pos} unexpected bytes at its end)`);
  return {
    baseSha256: Buffer.from(bytes.subarray(9, 41)).toString('hex'),
    resultSha256: Buffer.from(bytes.subarray(41, 73)).toString('hex'),
    baseBytes: view.getUint32(73, true),
    resultBytes: view.getUint32(77, true),
    tensors,
  };
}

function readTensor(r: Reader): PatchTensor {
  const nameLength = readU32(r);
  const at = skipBytes(r, nameLength);
  const name = utf8.decode(r.bytes.subarray(at, at + nameLength));
  const n = readU32(r);
  if (n > r.end - r.pos) throw new Error(`${name}: ${n} entries cannot fit in the rest of the body`); // each takes ≥ 2 bytes
  const index = new Int32Array(n);
  const value = new Int32Array(n);
  let previous = -1;
  for (let i = 0; i < n; i++) {
    previous += readU32(r) + 1;
    if (previous > 0x7fffffff) throw new Error(`${name}: index out of range`);
    index[i] = previous;
    value[i] = readS32(r);
  }
  return { name, index, value };
}

/** Entries in all tensors of a patch. */
export function entryCount(tensors: PatchTensor[]): number {
  return tensors.reduce((n, t) => n + t.index.length, 0);
}
