// ============================================================================
// safetensors container: 8-byte little-endian header length, a JSON header,
// then raw little-endian tensor bytes. This file knows nothing about models;
// it turns bytes into named typed arrays and back, and rejects every malformed
// byte with one line naming the file and the tensor.
// Spec: https://github.com/huggingface/safetensors (format section).
// ============================================================================

import { byDtype, Dtype, ElementArray } from '../util/elements';
import { inputError } from '../util/errors';

export type { Dtype };
export type TensorData = ElementArray;

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

export interface TensorFile {
  /** `__metadata__`: string → string, as the format requires. */
  metadata: Record<string, string>;
  /** In file order. */
  tensors: Map<string, Tensor>;
}

const KNOWN_UNSUPPORTED = new Set(['F16', 'BF16', 'BOOL', 'U64', 'F8_E4M3', 'F8_E5M2']);

/** A header larger than this is certainly corrupt (the biggest sparrow models have a few kB). */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;

// The host is little-endian (x86, Arm); the format is little-endian. Refuse the rare
// big-endian host instead of silently byte-swapping weights.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Parse a safetensors file. `file` is only used in error messages. */
export function parseSafetensors(bytes: Uint8Array, file: string): TensorFile {
  if (!HOST_IS_LITTLE_ENDIAN) throw inputError(file, undefined, 'big-endian hosts are not supported');
  if (bytes.length < 8) throw inputError(file, undefined, `truncated: ${bytes.length} bytes, a safetensors file starts with an 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(bytes.length - 8)) {
    throw inputError(file, undefined, `header length ${headerLen} bytes exceeds the ${bytes.length - 8} bytes after it (truncated file or wrong header length)`);
  }
  if (headerLen > BigInt(MAX_HEADER_BYTES)) throw inputError(file, undefined, `header length ${headerLen} bytes is implausibly large`);
  const n = Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw inputError(file, undefined, `header is not valid UTF-8 JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw inputError(file, undefined, 'header JSON must be an object of tensors');
  }
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, Tensor>();
  const ranges: { name: string; begin: number; end: number }[] = [];

  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw inputError(file, '__metadata__', 'must be an object of strings');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw inputError(file, `__metadata__.${k}`, 'metadata values must be strings');
        metadata[k] = v;
      }
      continue;
    }
    if (entry === null || typeof entry !== 'object') throw inputError(file, name, 'tensor entry must be an object');
    const { dtype, shape, data_offsets: offsets } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string') throw inputError(file, name, 'missing dtype');
    if (KNOWN_UNSUPPORTED.has(dtype)) throw inputError(file, name, `dtype ${dtype} is not supported (use F32, F64 or an integer type)`);
    const element = byDtype(dtype);
    if (!element) throw inputError(file, name, `unknown dtype "${dtype}"`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw inputError(file, name, `shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw inputError(file, name, `data_offsets must be [begin, end], got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end < begin) throw inputError(file, name, `data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLen) throw inputError(file, name, `data_offsets end at byte ${end} but the file has only ${dataLen} data bytes (truncated file?)`);
    if (end - begin !== count * element.bytes) {
      throw inputError(file, name, `shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${count * element.bytes} bytes, data_offsets give ${end - begin}`);
    }
    // Copy out: tensor data in the file need not be aligned for a typed array view. Not
    // bytes.slice(): on a Node Buffer (fs.readFileSync) that is a view into a shared pool.
    const copy = new Uint8Array(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { dtype: element.dtype, shape: shape as number[], data: element.view(copy.buffer) });
    ranges.push({ name, begin, end });
  }

  // The format requires the tensors to tile the data area exactly: no overlap, no holes.
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const r of ranges) {
    if (r.begin < covered) throw inputError(file, r.name, `data overlaps another tensor at byte ${r.begin}`);
    if (r.begin > covered) throw inputError(file, r.name, `hole in the data area before byte ${r.begin}`);
    covered = r.end;
  }
  if (covered !== dataLen) throw inputError(file, undefined, `${dataLen - covered} trailing bytes after the last tensor`);
  return { metadata, tensors };
}

/**
 * Serialize tensors. As the reference implementation does, tensors are laid out
 * by element size, largest first (stable otherwise), and the header is padded
 * with spaces to a multiple of 8 bytes: every tensor is then aligned to its
 * element size with no holes in the data (the format forbids holes).
 * The output is a pure function of the input: write → read → write is byte-identical.
 */
export function serializeSafetensors(file: TensorFile): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(file.metadata).length > 0) header.__metadata__ = file.metadata;
  let offset = 0;
  const chunks: Uint8Array[] = [];
  const size = (t: Tensor): number => byDtype(t.dtype)!.bytes;
  const ordered = [...file.tensors].sort((a, b) => size(b[1]) - size(a[1]));
  for (const [name, t] of ordered) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`serializeSafetensors: ${name}: shape [${t.shape}] does not match ${t.data.length} elements`);
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + raw.length] };
    chunks.push(raw);
    offset += raw.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
