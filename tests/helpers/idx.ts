// IDX files for tests, written from the format's description (0, 0, type, ndim,
// big-endian dims, data) and gzipped with Node's zlib — not the fflate the loader
// uses — and fake Fashion-MNIST directories built from them.

import { mkdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import { gzipSync } from 'zlib';
import { makeRng } from '../../host/util/rng';

export function idxFile(dims: number[], values: ArrayLike<number>, type = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((n, d) => header.writeUInt32BE(n, 4 + 4 * d));
  return Buffer.concat([header, Buffer.from(Array.from(values))]);
}

export interface FakeSplit {
  pixels: Uint8Array;
  labels: number[];
}

/** The four gzipped Fashion-MNIST files of `side`×`side` images in `dir`. */
export function writeFakeFashionMnist(dir: string, train: FakeSplit, test: FakeSplit, side = 28): void {
  mkdirSync(dir, { recursive: true });
  const write = (prefix: string, split: FakeSplit) => {
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte.gz`), gzipSync(idxFile([split.labels.length, side, side], split.pixels)));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte.gz`), gzipSync(idxFile([split.labels.length], split.labels)));
  };
  write('train', train);
  write('t10k', test);
}

/** Mostly dark pixels with bright strokes, like the real set; every byte value can occur. */
export function fakePixels(count: number, seed: number, pixelsPerImage = 784): Uint8Array {
  const rng = makeRng(seed);
  return Uint8Array.from({ length: count * pixelsPerImage }, () => (rng.uniform() < 0.5 ? 0 : rng.int(256)));
}
