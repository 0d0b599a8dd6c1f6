// ============================================================================
// IDX files: the container of MNIST and Fashion-MNIST. A big-endian header
//   byte 0–1  zero
//   byte 2    element type (0x08 = unsigned byte, the only one these sets use)
//   byte 3    number of dimensions d
//   4·d bytes each dimension as a big-endian uint32
// followed by the elements, row-major. Labels are magic 0x00000801 ([n]),
// images 0x00000803 ([n, rows, cols]). Files may be gzipped (magic 1f 8b).
//
// Every check a corrupt download can fail is made here, once, at load time,
// and fails with one line naming the file and the problem; afterwards the
// trainer indexes plain Uint8Arrays. fflate checks neither the gzip CRC-32
// nor the length field, so a flipped bit inside the deflate data would
// otherwise decode to wrong pixels without a word; both are checked here.
// Cost: one gunzip (fflate, ≈ 0.3 s for the 26 MB training images), one
// CRC-32 pass over the decompressed bytes (≈ 0.1 s for the 47 MB of training
// images) and one pass over the labels.
// ============================================================================

import { readFileSync } from 'fs';
import { gunzipSync } from 'fflate';
import { inputError } from '../../util/errors';

/** A decoded IDX tensor of unsigned bytes. */
export interface IdxTensor {
  /** Dimensions from the header, outermost first. */
  dims: number[];
  /** Row-major elements (a view into the decompressed file). */
  values: Uint8Array;
}

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** [count, rows, cols] pixels 0..255, row-major. */
  pixels: Uint8Array;
}

export interface IdxLabels {
  count: number;
  /** [count] class indices, each < the class count checked at load. */
  labels: Uint8Array;
}

export const IDX_LABELS_MAGIC = 0x00000801;
export const IDX_IMAGES_MAGIC = 0x00000803;

const IDX_TYPE_UBYTE = 0x08;
const IDX_TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

/** 7840000 → "7,840,000" (every byte count in a message is read by a person). */
function count(n: number): string {
  return n.toLocaleString('en-US');
}

function hex32(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}

/** CRC-32 (IEEE 802.3, reflected, as gzip stores it) lookup table. */
const CRC32_TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Deflate expands at most ≈ 1032:1; a length field beyond that is a corrupt trailer, not a size to allocate. */
const MAX_DEFLATE_RATIO = 1032;

/** The bytes of an IDX file, gunzipped when they start with the gzip magic (CRC-32 and length checked). */
export function idxBytes(raw: Uint8Array, file: string): Uint8Array {
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    if (raw.length < 18) {
      throw inputError(file, undefined, `not a valid gzip stream (${count(raw.length)} bytes, shorter than a gzip header and trailer)`);
    }
    // Trailer: CRC-32 and length mod 2^32 of the uncompressed data, little-endian.
    const trailer = new DataView(raw.buffer, raw.byteOffset + raw.length - 8, 8);
    const storedLength = trailer.getUint32(4, true);
    if (storedLength > MAX_DEFLATE_RATIO * raw.length) {
      throw inputError(file, undefined, `not a valid gzip stream (its length field says ${count(storedLength)} bytes, impossible from ${count(raw.length)} compressed bytes)`);
    }
    let bytes: Uint8Array;
    try {
      bytes = gunzipSync(raw);
    } catch (e) {
      throw inputError(file, undefined, `not a valid gzip stream (${(e as Error).message})`);
    }
    if (bytes.length !== storedLength) {
      throw inputError(file, undefined, `corrupt gzip stream: decompressed ${count(bytes.length)} bytes, its length field says ${count(storedLength)}`);
    }
    const storedCrc = trailer.getUint32(0, true);
    const crc = crc32(bytes);
    if (crc !== storedCrc) {
      throw inputError(file, undefined, `corrupt gzip stream: CRC-32 of the decompressed data is ${hex32(crc)}, the file says ${hex32(storedCrc)}`);
    }
    return bytes;
  }
  return raw;
}

/**
 * Parse an IDX file of unsigned bytes (already gunzipped or not).
 * `expectedMagic`, when given, must match exactly (labels vs images).
 */
export function parseIdx(raw: Uint8Array, file: string, expectedMagic?: number): IdxTensor {
  const bytes = idxBytes(raw, file);
  const gz = bytes !== raw ? ' (decompressed)' : '';
  if (bytes.length < 4) {
    throw inputError(file, undefined, `not an IDX file: ${count(bytes.length)} bytes${gz}, shorter than the 4-byte magic`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const kind = (m: number): string =>
    m === IDX_LABELS_MAGIC ? ' (labels)' : m === IDX_IMAGES_MAGIC ? ' (images)' : '';
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const want = expectedMagic === undefined ? 'an IDX magic 0x0000TTDD' : hex32(expectedMagic) + kind(expectedMagic);
    throw inputError(file, undefined, `not an IDX file: magic ${hex32(magic)}, expected ${want}`);
  }
  if (expectedMagic !== undefined && magic !== expectedMagic) {
    throw inputError(file, undefined, `wrong magic ${hex32(magic)}${kind(magic)}, expected ${hex32(expectedMagic)}${kind(expectedMagic)}`);
  }
  const type = bytes[2];
  if (type !== IDX_TYPE_UBYTE) {
    const name = IDX_TYPE_NAMES[type] ?? 'unknown';
    throw inputError(file, undefined, `element type 0x${type.toString(16).padStart(2, '0')} (${name}) is not supported; sparrow reads unsigned-byte (0x08) IDX files`);
  }
  const ndim = bytes[3];
  if (ndim === 0) throw inputError(file, undefined, 'header declares 0 dimensions');
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) {
    throw inputError(file, undefined, `truncated header: ${ndim} dimensions need ${headerBytes} bytes, file has ${count(bytes.length)}${gz}`);
  }
  const dims: number[] = [];
  let elements = 1;
  for (let d = 0; d < ndim; d++) {
    const n = view.getUint32(4 + 4 * d, false);
    if (n === 0) throw inputError(file, undefined, `dimension ${d} is 0`);
    dims.push(n);
    elements *= n;
  }
  const dataBytes = bytes.length - headerBytes;
  if (dataBytes !== elements) {
    const what = dataBytes < elements ? 'truncated' : 'trailing bytes';
    throw inputError(
      file,
      undefined,
      `${what}: header says ${dims.join('×')} = ${count(elements)} bytes, file has ${count(dataBytes)} after its ${headerBytes}-byte header${gz}`,
    );
  }
  return { dims, values: bytes.subarray(headerBytes) };
}

/** [n, rows, cols] images from IDX bytes. */
export function parseIdxImages(raw: Uint8Array, file: string): IdxImages {
  const { dims, values } = parseIdx(raw, file, IDX_IMAGES_MAGIC);
  if (dims.length !== 3) {
    throw inputError(file, undefined, `images need 3 dimensions [count, rows, cols], header has ${dims.length}`);
  }
  return { count: dims[0], rows: dims[1], cols: dims[2], pixels: values };
}

/** [n] labels from IDX bytes, each checked to be < `classes`. */
export function parseIdxLabels(raw: Uint8Array, file: string, classes: number): IdxLabels {
  const { dims, values } = parseIdx(raw, file, IDX_LABELS_MAGIC);
  if (dims.length !== 1) {
    throw inputError(file, undefined, `labels need 1 dimension [count], header has ${dims.length}`);
  }
  for (let i = 0; i < values.length; i++) {
    if (values[i] >= classes) {
      throw inputError(file, undefined, `label ${values[i]} at index ${count(i)} is outside the ${classes} classes 0..${classes - 1}`);
    }
  }
  return { count: dims[0], labels: values };
}

/** Read and parse an image file (gzipped or not). */
export function readIdxImages(file: string): IdxImages {
  return parseIdxImages(readFile(file), file);
}

/** Read and parse a label file (gzipped or not). */
export function readIdxLabels(file: string, classes: number): IdxLabels {
  return parseIdxLabels(readFile(file), file, classes);
}

function readFile(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    throw inputError(file, undefined, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
