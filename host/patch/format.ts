// ============================================================================
// The firmware patch file (`sparrow diff … -o update.patch`): the changed
// values of an integer model, addressed by tensor name and element index,
// bound to the one firmware they apply to.
//
//   offset  bytes  field
//   0       8      magic "SPRPATCH"
//   8       1      format version (2)
//   9       32     SHA-256 of the base firmware (the only firmware it applies to)
//   41      32     SHA-256 of the firmware it produces
//   73      4      base firmware bytes (u32 LE)
//   77      4      resulting firmware bytes (u32 LE)
//   81      4      body bytes (u32 LE)
//   85      body   raw DEFLATE (RFC 1951) of: u32 tensor count, then per tensor: name
//                  (u32 length, UTF-8), u32 entry count, and per entry the index gap
//                  (index − previous index − 1; the first entry: its index) and the new
//                  value minus the base firmware's value there (s32); every integer LEB128
//   end−32  32     SHA-256 of everything before it
//
// A value is an element of the integer model: a matrix is addressed by row-major
// position in its logical [rows, cols] shape, whatever its storage (dense, CSR, a
// sparse format or weights in code). Entries per tensor are in increasing index
// order. Values are carried as differences from the base firmware (a patch applies
// to that firmware only, so the base value is known): tuning moves weights by a few
// steps of their grid, and small differences, with the many gaps of 0 where every
// weight of a row or tensor changes, are what DEFLATE compresses (a third to a half
// of the patch, docs/deploy.md §6). The checksum catches truncation and corruption;
// it is not a signature (anyone can recompute it), so sign the file if the channel
// needs authenticity. Version 1 (absolute values, no DEFLATE) is no longer read:
// make the patch again with `sparrow diff`.
// ============================================================================

import { createHash } from 'crypto';
import { TextDecoder } from 'util';
import { deflateRawSync, inflateRawSync } from 'zlib';
import { SparrowError } from '../util/errors';
import { encodeS32, encodeU32, readS32, readU32, reader, Reader, skipBytes } from '../wasm/leb128';

export const PATCH_MAGIC = 'SPRPATCH';
export const PATCH_VERSION = 2;
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

/**
 * The values a patch's differences are taken from: the base firmware's tensors, logical
 * layout (host/patch/firmware_map.ts, readTensor). `file` names the firmware in errors.
 */
export interface BaseValues {
  file: string;
  values(name: string): Int32Array | undefined;
}

/** A decoded patch before its differences are added to the base: `value` holds new − base. */
export type PatchDelta = Omit<Patch, 'tensors'> & { deltas: PatchTensor[] };

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function encodePatch(p: Patch, base: BaseValues): Uint8Array {
  const raw: number[] = [...encodeU32(p.tensors.length)];
  for (const t of p.tensors) {
    const name = new TextEncoder().encode(t.name);
    const before = base.values(t.name);
    if (!before) throw new Error(`patch: tensor '${t.name}' is not in ${base.file}`);
    raw.push(...encodeU32(name.length), ...name, ...encodeU32(t.index.length));
    let previous = -1;
    t.index.forEach((index, i) => {
      if (index <= previous) throw new Error(`patch: ${t.name}: indices must increase (${index} after ${previous})`);
      if (index >= before.length) throw new Error(`patch: ${t.name}[${index}] is beyond its ${before.length} elements`);
      raw.push(...encodeU32(index - previous - 1), ...encodeS32(t.value[i] - before[index]));
      previous = index;
    });
  }
  const body = deflateRawSync(Uint8Array.from(raw), { level: 9 });
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

/**
 * Parse and verify a patch; every problem is one line naming `file`. The values are the
 * differences the file carries: `resolvePatch` adds them to the base firmware's.
 */
export function decodePatch(bytes: Uint8Array, file: string): PatchDelta {
  const bad = (problem: string): never => {
    throw new SparrowError(`${file}: ${problem}`);
  };
  const magic = Buffer.from(bytes.subarray(0, 8)).toString('latin1');
  if (bytes.length < 8 || magic !== PATCH_MAGIC) {
    if (PATCH_MAGIC.startsWith(magic) && bytes.length < 8) bad(`truncated patch (${bytes.length} bytes)`);
    bad('not a sparrow firmware patch (bad magic)');
  }
  if (bytes.length > 8 && bytes[8] !== PATCH_VERSION) {
    bad(`patch format version ${bytes[8]} is not supported (this sparrow reads version ${PATCH_VERSION}${bytes[8] < PATCH_VERSION ? '; make the patch again with `sparrow diff`' : ''})`);
  }
  if (bytes.length < HEAD_BYTES + CHECKSUM_BYTES) bad(`truncated patch (${bytes.length} bytes; the header and checksum alone take ${HEAD_BYTES + CHECKSUM_BYTES})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const expected = HEAD_BYTES + view.getUint32(81, true) + CHECKSUM_BYTES;
  if (bytes.length < expected) bad(`truncated patch (${bytes.length} of ${expected} bytes)`);
  if (bytes.length > expected) bad(`${bytes.length - expected} unexpected bytes after the patch's checksum`);
  const sum = createHash('sha256').update(bytes.subarray(0, expected - CHECKSUM_BYTES)).digest();
  if (!sum.equals(Buffer.from(bytes.subarray(expected - CHECKSUM_BYTES)))) bad('checksum mismatch: the patch is corrupted or was modified after `sparrow diff` wrote it');

  let raw: Uint8Array;
  try {
    // Bounded: no entry is shorter than 2 bytes, and a patch cannot hold more entries than its result has bytes.
    raw = inflateRawSync(bytes.subarray(HEAD_BYTES, expected - CHECKSUM_BYTES), { maxOutputLength: 16 * view.getUint32(77, true) + 65536 });
  } catch (e) {
    return bad(`malformed body (not DEFLATE data that fits the firmware: ${(e as Error).message})`);
  }
  const r = reader(raw, 0, raw.length, 'patch body');
  const deltas: PatchTensor[] = [];
  try {
    const count = readU32(r);
    for (let t = 0; t < count; t++) deltas.push(readTensor(r));
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
    deltas,
  };
}

/**
 * The patch's new values: its differences added to `base`'s values (the firmware whose
 * SHA-256 it names). An entry outside a tensor, or a tensor the firmware lacks, is one
 * line naming `file`.
 */
export function resolvePatch(d: PatchDelta, base: BaseValues, file: string): Patch {
  const tensors = d.deltas.map((t): PatchTensor => {
    const before = base.values(t.name);
    if (!before) throw new SparrowError(`${file}: tensor '${t.name}' is not in ${base.file}`);
    const value = new Int32Array(t.value.length);
    t.index.forEach((index, i) => {
      if (index >= before.length) throw new SparrowError(`${file}: ${t.name}[${index}]: index out of range (the tensor has ${before.length} elements in ${base.file})`);
      const v = before[index] + t.value[i];
      if (v !== (v | 0)) throw new SparrowError(`${file}: ${t.name}[${index}]: ${v} does not fit i32`);
      value[i] = v;
    });
    return { name: t.name, index: t.index, value };
  });
  const { deltas: _, ...head } = d;
  return { ...head, tensors };
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
