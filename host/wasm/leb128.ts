// ============================================================================
// LEB128 and the byte reader under sparrow's WebAssembly parser and linker.
//
// Every integer in a wasm binary is LEB128: 7 payload bits per byte, high bit
// = "more bytes follow". The spec bounds each integer to ceil(N/7) bytes for
// an N-bit value and requires the unused bits of the last byte to be zero
// (unsigned) or copies of the sign bit (signed). Decoding here enforces both,
// so a hostile or corrupted file can neither loop nor read past its end: every
// read goes through a Reader whose `end` is checked before each byte.
// ============================================================================

import { SparrowError } from '../util/errors';

/** Any malformed or unsupported wasm input. The message is one line: `wasm: <problem> ... at byte <offset>`. */
export class WasmError extends SparrowError {
  constructor(message: string) {
    super(message);
    this.name = 'WasmError';
  }
}

/**
 * A cursor over `bytes[pos, end)`. Offsets are absolute in `bytes` (the whole
 * module), so error messages point at the real file offset.
 */
export interface Reader {
  readonly bytes: Uint8Array;
  pos: number;
  /** Exclusive end of the region this reader may read; always ≤ bytes.length. */
  readonly end: number;
  /** What is being read, for error messages: "header", "section 10", "section 10 (function 3)". */
  readonly where: string;
}

/** A reader over `bytes[start, end)`; a region that does not fit in `bytes` is reported as truncated. */
export function reader(bytes: Uint8Array, start: number, end: number, where: string): Reader {
  if (start < 0 || start > end) throw new WasmError(`wasm: bad region [${start}, ${end}) for ${where}`);
  if (end > bytes.length) throw new WasmError(`wasm: truncated ${where} at byte ${bytes.length}`);
  return { bytes, pos: start, end, where };
}

/** Throws `wasm: <problem> in <where> at byte <at>`. */
export function fail(r: Reader, problem: string, at: number = r.pos): never {
  throw new WasmError(`wasm: ${problem} in ${r.where} at byte ${at}`);
}

/** Throws the one error every out-of-range read becomes. */
export function truncated(r: Reader, at: number = r.pos): never {
  throw new WasmError(`wasm: truncated ${r.where} at byte ${at}`);
}

export function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

export function readByte(r: Reader): number {
  if (r.pos >= r.end) truncated(r);
  return r.bytes[r.pos++];
}

export function peekByte(r: Reader): number {
  if (r.pos >= r.end) truncated(r);
  return r.bytes[r.pos];
}

/** Skips `n` bytes and returns the offset where they start; `n` past the end is a truncation. */
export function skipBytes(r: Reader, n: number): number {
  const start = r.pos;
  // Compare against the remaining length rather than computing pos + n first: n may be up to 2^32.
  if (n > r.end - r.pos) truncated(r, r.end);
  r.pos += n;
  return start;
}

/**
 * Decodes an N-bit LEB128 (N ≤ 64) as a JS number. Exact up to 2^53; beyond
 * that (only possible for 64-bit values) the result is rounded — callers use
 * it for 64-bit immediates only to skip them. Validation is exact either way.
 */
function readLebNumber(r: Reader, bits: number, signed: boolean): number {
  const start = r.pos;
  const maxBytes = Math.ceil(bits / 7);
  let result = 0;
  let scale = 1;
  for (let i = 0; i < maxBytes; i++) {
    const b = readByte(r);
    result += (b & 0x7f) * scale;
    scale *= 128;
    if (i === maxBytes - 1) checkLastByte(r, b, bits, maxBytes, signed, start);
    if ((b & 0x80) === 0) return signed && (b & 0x40) !== 0 ? result - scale : result;
  }
  return fail(r, 'unreachable LEB128 state', start); // checkLastByte rejects a continuation bit on the last byte
}

/** Same as readLebNumber but exact for 64-bit values. */
function readLebBigInt(r: Reader, bits: number, signed: boolean): bigint {
  const start = r.pos;
  const maxBytes = Math.ceil(bits / 7);
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < maxBytes; i++) {
    const b = readByte(r);
    result |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if (i === maxBytes - 1) checkLastByte(r, b, bits, maxBytes, signed, start);
    if ((b & 0x80) === 0) return signed && (b & 0x40) !== 0 ? result - (1n << shift) : result;
  }
  return fail(r, 'unreachable LEB128 state', start);
}

/**
 * The last permitted byte of an N-bit LEB128 carries only N − 7·(maxBytes−1)
 * real bits; the spec demands no continuation bit and that the rest be zero
 * (unsigned) or all equal to the sign bit (signed). This is what makes
 * "0xff 0xff 0xff 0xff 0x1f" an invalid u32 rather than a silently wrapped one.
 */
function checkLastByte(r: Reader, b: number, bits: number, maxBytes: number, signed: boolean, start: number): void {
  const kind = `${signed ? 's' : 'u'}${bits}`;
  if (b & 0x80) fail(r, `LEB128 ${kind} longer than ${maxBytes} bytes`, start);
  const used = bits - 7 * (maxBytes - 1);
  const mask = signed ? (0x7f >> (used - 1)) << (used - 1) : (0x7f >> used) << used;
  const high = b & mask;
  if (high !== 0 && !(signed && high === mask)) fail(r, `LEB128 ${kind} out of range`, start);
}

export function readU32(r: Reader): number {
  return readLebNumber(r, 32, false);
}

export function readS32(r: Reader): number {
  return readLebNumber(r, 32, true);
}

/** Signed 33-bit: block types and heap types (negative = a one-byte type code, ≥ 0 = a type index). */
export function readS33(r: Reader): number {
  return readLebNumber(r, 33, true);
}

export function readU64(r: Reader): bigint {
  return readLebBigInt(r, 64, false);
}

export function readS64(r: Reader): bigint {
  return readLebBigInt(r, 64, true);
}

/** Validates and skips a 64-bit LEB128 without building a BigInt (i64.const, memory64 offsets in code). */
export function skipLeb64(r: Reader, signed: boolean): void {
  readLebNumber(r, 64, signed);
}

// ---------------------------------------------------------------------------
// Encoders. Minimal length unless `minBytes` asks for padding (padding is what
// lets a toolchain reserve space and patch a size in place; tests use it to
// produce the legal 5-byte encodings).
// ---------------------------------------------------------------------------

/** Unsigned LEB128 of an integer in [0, 2^32). */
export function encodeU32(value: number, minBytes = 1): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new WasmError(`wasm: cannot encode ${value} as u32`);
  if (minBytes > 5) throw new WasmError(`wasm: a u32 has at most 5 LEB128 bytes, not ${minBytes}`);
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0 || out.length + 1 < minBytes) b |= 0x80;
    out.push(b);
  } while (v !== 0 || out.length < minBytes);
  return out;
}

/** Signed LEB128 of an integer in [−2^31, 2^31). */
export function encodeS32(value: number): number[] {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new WasmError(`wasm: cannot encode ${value} as s32`);
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7; // arithmetic shift keeps the sign
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export function encodeU64(value: bigint): number[] {
  if (value < 0n || value >= 1n << 64n) throw new WasmError(`wasm: cannot encode ${value} as u64`);
  const out: number[] = [];
  let v = value;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return out;
}

export function encodeS64(value: bigint): number[] {
  if (value < -(1n << 63n) || value >= 1n << 63n) throw new WasmError(`wasm: cannot encode ${value} as s64`);
  const out: number[] = [];
  let v = value;
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n; // BigInt shift is arithmetic
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
