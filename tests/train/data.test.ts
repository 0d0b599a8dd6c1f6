// Training data against independent definitions: IDX files written byte by byte
// from the format's description (and gzipped by Node's zlib, not the fflate the
// loader uses), Fashion-MNIST directories of tiny fake files, and synthetic
// audio checked against what its banner promises — determinism from a seed,
// an exact mixing SNR, and the spectral slopes of white, pink and brown noise
// measured with an averaged periodogram.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { gzipSync } from 'zlib';
import FFT from 'fft.js';
import {
  IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, idxBytes, parseIdx, parseIdxImages, parseIdxLabels, readIdxImages, readIdxLabels,
} from '../../host/train/data/idx';
import {
  FASHION_MNIST_CLASS_NAMES, FASHION_MNIST_DEFAULT_DIR, FASHION_MNIST_DIR_ENV, fashionMnistDir, loadFashionMnist,
} from '../../host/train/data/fashion_mnist';
import { cleanSignal, meanSquare, mixAtSnr, NOISE_TYPES, NoiseType, noiseSignal } from '../../host/train/data/synth_audio';
import { SparrowError } from '../../host/util/errors';
import { makeRng } from '../../host/util/rng';
import { idxFile } from '../helpers/idx';

// ---------------------------------------------------------------------------
// IDX bytes from the format description: 0, 0, type, ndim, big-endian dims, data
// ---------------------------------------------------------------------------

const labelsFile = (labels: number[]): Buffer => idxFile([labels.length], labels);
const imagesFile = (count: number, rows: number, cols: number, pixel: (i: number, p: number) => number): Buffer =>
  idxFile([count, rows, cols], Array.from({ length: count * rows * cols }, (_, k) => pixel(Math.floor(k / (rows * cols)), k % (rows * cols))));

/** Run `f`, expecting one SparrowError line that starts with `file: ` and matches every pattern. */
function expectFileError(f: () => unknown, file: string, ...patterns: (string | RegExp)[]): string {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(SparrowError);
  const message = (caught as SparrowError).message;
  expect(message).not.toContain('\n');
  expect(message.startsWith(`${file}: `)).toBe(true);
  for (const p of patterns) {
    if (typeof p === 'string') expect(message).toContain(p);
    else expect(message).toMatch(p);
  }
  return message;
}

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sparrow-data-test-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('IDX parsing', () => {
  const labels = [3, 1, 4, 1, 5, 9, 2, 6];
  const pixel = (i: number, p: number) => (i * 37 + p * 11) % 256;
  const images = imagesFile(3, 2, 5, pixel);

  test('labels: magic 0x00000801, dims [n], values in file order', () => {
    const parsed = parseIdxLabels(labelsFile(labels), 'l.idx', 10);
    expect(parsed.count).toBe(8);
    expect(Array.from(parsed.labels)).toEqual(labels);
  });

  test('images: magic 0x00000803, dims [n, rows, cols], row-major pixels', () => {
    const parsed = parseIdxImages(images, 'i.idx');
    expect([parsed.count, parsed.rows, parsed.cols]).toEqual([3, 2, 5]);
    // Pixel (image i, row r, col c) sits at i·rows·cols + r·cols + c.
    expect(parsed.pixels[1 * 10 + 1 * 5 + 3]).toBe(pixel(1, 8));
    expect(Array.from(parsed.pixels)).toEqual(Array.from({ length: 30 }, (_, k) => pixel(Math.floor(k / 10), k % 10)));
  });

  test('generic tensor of any rank; dims read as big-endian uint32', () => {
    // 0x0102 = 258 rows of 1 column: a dimension that needs both bytes.
    const values = Array.from({ length: 258 }, (_, k) => k & 0xff);
    const parsed = parseIdx(idxFile([258, 1], values), 'm.idx');
    expect(parsed.dims).toEqual([258, 1]);
    expect(Array.from(parsed.values)).toEqual(values);
    expect(parseIdx(idxFile([2, 1, 1, 3], [1, 2, 3, 4, 5, 6]), 'r4.idx').dims).toEqual([2, 1, 1, 3]);
  });

  test('the magic constants are those of the format', () => {
    expect(IDX_LABELS_MAGIC).toBe(0x801);
    expect(IDX_IMAGES_MAGIC).toBe(0x803);
    expect(labelsFile([0]).readUInt32BE(0)).toBe(IDX_LABELS_MAGIC);
    expect(images.readUInt32BE(0)).toBe(IDX_IMAGES_MAGIC);
  });

  test('a view with a non-zero byte offset into a larger buffer', () => {
    const padded = Buffer.concat([Buffer.from([0xaa, 0xbb, 0xcc]), labelsFile(labels), Buffer.from([0xdd])]);
    const view = padded.subarray(3, padded.length - 1);
    expect(Array.from(parseIdxLabels(view, 'v.idx', 10).labels)).toEqual(labels);
  });

  test('gzipped and plain files decode to the same tensor; idxBytes passes plain bytes through', () => {
    const gz = gzipSync(images);
    expect(Array.from(idxBytes(gz, 'i.gz'))).toEqual(Array.from(images));
    const plain = new Uint8Array(images);
    expect(idxBytes(plain, 'i.idx')).toBe(plain);
    const a = parseIdxImages(gz, 'i.gz');
    const b = parseIdxImages(images, 'i.idx');
    expect([a.count, a.rows, a.cols]).toEqual([b.count, b.rows, b.cols]);
    expect(Array.from(a.pixels)).toEqual(Array.from(b.pixels));
    expect(Array.from(parseIdxLabels(gzipSync(labelsFile(labels)), 'l.gz', 10).labels)).toEqual(labels);
  });
});

describe('IDX errors: one SparrowError line naming the file and the problem', () => {
  const file = '/data/x-idx3-ubyte';

  test('shorter than the magic, including empty', () => {
    expectFileError(() => parseIdx(new Uint8Array(0), file), file, 'not an IDX file', '0 bytes', '4-byte magic');
    expectFileError(() => parseIdx(Uint8Array.from([0, 0, 8]), file), file, '3 bytes');
  });

  test('first two bytes not zero: not an IDX file, with the expected magic when known', () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]);
    expectFileError(() => parseIdx(png, file), file, 'not an IDX file', '0x89504e47', 'an IDX magic');
    expectFileError(() => parseIdxImages(png, file), file, 'expected 0x00000803 (images)');
  });

  test('labels where images are expected and the other way round', () => {
    expectFileError(() => parseIdxImages(labelsFile([1, 2]), file), file, 'wrong magic 0x00000801 (labels)', 'expected 0x00000803 (images)');
    const images = imagesFile(1, 2, 2, () => 0);
    expectFileError(() => parseIdxLabels(images, file, 10), file, 'wrong magic 0x00000803 (images)', 'expected 0x00000801 (labels)');
  });

  test('an element type other than unsigned byte is named', () => {
    const floats = idxFile([1], [0, 0, 0, 0], 0x0d);
    expectFileError(() => parseIdx(floats, file), file, 'element type 0x0d (float32) is not supported');
    expectFileError(() => parseIdx(idxFile([1], [0], 0x42), file), file, 'element type 0x42 (unknown)');
  });

  test('zero dimensions, a zero dimension, a truncated header', () => {
    expectFileError(() => parseIdx(Uint8Array.from([0, 0, 8, 0]), file), file, 'header declares 0 dimensions');
    expectFileError(() => parseIdx(idxFile([2, 0, 3], []), file), file, 'dimension 1 is 0');
    // 3 dimensions need 4 + 12 bytes of header; give 10.
    const short = Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0]);
    expectFileError(() => parseIdx(short, file), file, 'truncated header', '3 dimensions need 16 bytes', 'file has 10');
  });

  test('truncated data and trailing bytes give the expected and actual sizes (with thousands separators)', () => {
    const full = imagesFile(10, 28, 28, (i, p) => (i + p) & 0xff); // 7,840 pixel bytes
    expectFileError(() => parseIdxImages(full.subarray(0, full.length - 1), file), file,
      'truncated', '10×28×28 = 7,840 bytes', 'file has 7,839 after its 16-byte header');
    expectFileError(() => parseIdxImages(Buffer.concat([full, Buffer.from([1, 2])]), file), file,
      'trailing bytes', 'file has 7,842');
    expectFileError(() => parseIdxImages(gzipSync(full.subarray(0, 100)), file), file, 'truncated', '(decompressed)');
  });

  test('the magic carries the rank: a rank-2 file is refused by either reader', () => {
    // Byte 3 is the number of dimensions, so 0x00000802 is neither magic.
    const matrix = idxFile([2, 3], [1, 2, 3, 4, 5, 6]);
    expectFileError(() => parseIdxImages(matrix, file), file, 'wrong magic 0x00000802', 'expected 0x00000803 (images)');
    expectFileError(() => parseIdxLabels(matrix, file, 10), file, 'wrong magic 0x00000802', 'expected 0x00000801 (labels)');
  });

  test('a label outside the classes names its value and index', () => {
    expectFileError(() => parseIdxLabels(labelsFile([0, 9, 10, 3]), file, 10), file, 'label 10 at index 2', '10 classes 0..9');
    expect(parseIdxLabels(labelsFile([0, 9]), file, 10).count).toBe(2);
  });

  test('gzip: bad header, truncated stream, short file', () => {
    const good = gzipSync(imagesFile(4, 3, 3, (i, p) => i * 9 + p));
    const badHeader = Buffer.from(good);
    badHeader[2] = 0x07; // compression method must be 8 (deflate)
    expectFileError(() => idxBytes(badHeader, file), file, 'not a valid gzip stream');
    for (const cut of [2, 12, good.length - 9, good.length - 1]) {
      expectFileError(() => parseIdxImages(good.subarray(0, cut), file), file, /not a valid gzip stream|corrupt gzip stream/);
    }
  });

  test('gzip: a flipped bit anywhere after the header is an error or harmless, never silently different pixels', () => {
    // A stored stream makes every data byte a pixel: without the CRC-32 check a
    // flip there decodes to a wrong pixel and nothing else notices. Some bits
    // are ignored by inflate (padding, the stored block's length complement):
    // flipping those may decode to the very same pixels, which is fine.
    const storedRaw = imagesFile(4, 6, 6, (i, p) => (i * 50 + p * 3) & 0xff);
    const huffmanRaw = imagesFile(4, 6, 6, (i, p) => (p % 6) * 40 + i);
    for (const [raw, level] of [[storedRaw, 0], [huffmanRaw, 9]] as const) {
      const good = gzipSync(raw, { level });
      expect(Array.from(idxBytes(good, file))).toEqual(Array.from(raw));
      let errors = 0;
      let flips = 0;
      for (let byte = 10; byte < good.length; byte++) {
        for (const bit of [0, 5]) {
          const bad = Buffer.from(good);
          bad[byte] ^= 1 << bit;
          flips++;
          let pixels: number[] | undefined;
          try {
            pixels = Array.from(parseIdxImages(bad, file).pixels);
          } catch {
            errors++;
            expectFileError(() => parseIdxImages(bad, file), file, /gzip stream|truncated|trailing/);
          }
          if (pixels) expect(pixels).toEqual(Array.from(raw.subarray(16)));
        }
      }
      expect(errors).toBeGreaterThan(0.9 * flips);
    }
  });

  test('gzip: an impossible length field is refused before anything is allocated', () => {
    const bad = Buffer.from(gzipSync(labelsFile([1, 2, 3])));
    bad.writeUInt32LE(0xfffffff0, bad.length - 4);
    expectFileError(() => idxBytes(bad, file), file, 'not a valid gzip stream', 'length field says 4,294,967,280 bytes');
  });

  test('reading files: plain, gzipped, missing', () => {
    const plain = join(scratch, 'labels-idx1-ubyte');
    const gz = join(scratch, 'images-idx3-ubyte.gz');
    writeFileSync(plain, labelsFile([7, 0, 7]));
    writeFileSync(gz, gzipSync(imagesFile(2, 2, 2, (i, p) => 10 * i + p)));
    expect(Array.from(readIdxLabels(plain, 10).labels)).toEqual([7, 0, 7]);
    expect(Array.from(readIdxImages(gz).pixels)).toEqual([0, 1, 2, 3, 10, 11, 12, 13]);
    expectFileError(() => readIdxLabels(plain, 5), plain, 'label 7 at index 0');
    const missing = join(scratch, 'nope-idx1-ubyte');
    expectFileError(() => readIdxLabels(missing, 10), missing, 'cannot read (ENOENT)');
  });
});

// ---------------------------------------------------------------------------
// Fashion-MNIST directories
// ---------------------------------------------------------------------------

interface FakeSet {
  trainCount?: number;
  testCount?: number;
  rows?: number;
  cols?: number;
  testRows?: number;
  gzip?: boolean;
  skip?: string;
  trainLabels?: number;
}

/** A directory of the four Fashion-MNIST files, tiny; returns it. */
function writeFakeSet(name: string, opts: FakeSet = {}): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const rows = opts.rows ?? 4;
  const cols = opts.cols ?? 4;
  const trainCount = opts.trainCount ?? 5;
  const testCount = opts.testCount ?? 3;
  const files: [string, Buffer][] = [
    ['train-images-idx3-ubyte', imagesFile(trainCount, rows, cols, (i, p) => (i * 17 + p * 5) & 0xff)],
    ['train-labels-idx1-ubyte', labelsFile(Array.from({ length: opts.trainLabels ?? trainCount }, (_, i) => i % 10))],
    ['t10k-images-idx3-ubyte', imagesFile(testCount, opts.testRows ?? rows, cols, (i, p) => (i * 29 + p) & 0xff)],
    ['t10k-labels-idx1-ubyte', labelsFile(Array.from({ length: testCount }, (_, i) => 9 - i))],
  ];
  for (const [stem, bytes] of files) {
    if (stem === opts.skip) continue;
    if (opts.gzip === false) writeFileSync(join(dir, stem), bytes);
    else writeFileSync(join(dir, `${stem}.gz`), gzipSync(bytes));
  }
  return dir;
}

function withEnv<R>(value: string | undefined, f: () => R): R {
  const saved = process.env[FASHION_MNIST_DIR_ENV];
  if (value === undefined) delete process.env[FASHION_MNIST_DIR_ENV];
  else process.env[FASHION_MNIST_DIR_ENV] = value;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env[FASHION_MNIST_DIR_ENV];
    else process.env[FASHION_MNIST_DIR_ENV] = saved;
  }
}

function caughtMessage(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SparrowError);
    return (e as Error).message;
  }
  throw new Error('expected a SparrowError');
}

describe('Fashion-MNIST directory', () => {
  const INSTALL = 'apt-get install dataset-fashion-mnist';

  test('loads both splits of a fake gzipped set', () => {
    const dir = writeFakeSet('gz');
    const data = loadFashionMnist(dir);
    expect(data.dir).toBe(dir);
    expect([data.train.count, data.train.rows, data.train.cols]).toEqual([5, 4, 4]);
    expect([data.test.count, data.test.rows, data.test.cols]).toEqual([3, 4, 4]);
    expect(Array.from(data.train.labels)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(data.test.labels)).toEqual([9, 8, 7]);
    expect(data.train.pixels[2 * 16 + 3]).toBe((2 * 17 + 3 * 5) & 0xff);
    expect(data.test.pixels[1 * 16 + 15]).toBe(29 + 15);
  });

  test('uncompressed files are read when there is no .gz', () => {
    const data = loadFashionMnist(writeFakeSet('plain', { gzip: false }));
    expect(Array.from(data.test.labels)).toEqual([9, 8, 7]);
  });

  test('a missing directory names it and gives the exact install command, on one line', () => {
    const dir = join(scratch, 'does-not-exist');
    const message = caughtMessage(() => loadFashionMnist(dir));
    expect(message).toContain(dir);
    expect(message).toContain(INSTALL);
    expect(message).not.toContain('\n');
  });

  test('a path that is a file, not a directory, is "not found" too', () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'x');
    expect(caughtMessage(() => loadFashionMnist(file))).toContain(INSTALL);
  });

  test('a missing file in the directory names the file and the install command', () => {
    const dir = writeFakeSet('no-test-labels', { skip: 't10k-labels-idx1-ubyte' });
    const message = caughtMessage(() => loadFashionMnist(dir));
    expect(message).toContain(dir);
    expect(message).toContain('t10k-labels-idx1-ubyte');
    expect(message).toContain(INSTALL);
  });

  test('$SPARROW_FASHION_MNIST_DIR is used when no directory is given; an explicit one wins', () => {
    const fromEnv = writeFakeSet('env', { trainCount: 7 });
    const explicit = writeFakeSet('explicit', { trainCount: 2 });
    withEnv(fromEnv, () => {
      expect(fashionMnistDir()).toBe(fromEnv);
      expect(loadFashionMnist().train.count).toBe(7);
      expect(loadFashionMnist(explicit).train.count).toBe(2);
    });
    const missing = join(scratch, 'env-missing');
    withEnv(missing, () => {
      const message = caughtMessage(() => loadFashionMnist());
      expect(message).toContain(missing);
      expect(message).toContain(INSTALL);
    });
  });

  test('without the variable (or with it empty) the Debian path is the default', () => {
    expect(FASHION_MNIST_DEFAULT_DIR).toBe('/usr/share/datasets/fashion-mnist');
    withEnv(undefined, () => expect(fashionMnistDir()).toBe(FASHION_MNIST_DEFAULT_DIR));
    withEnv('', () => expect(fashionMnistDir()).toBe(FASHION_MNIST_DEFAULT_DIR));
  });

  test('a corrupt file is named in the error', () => {
    const dir = writeFakeSet('corrupt');
    const file = join(dir, 'train-images-idx3-ubyte.gz');
    writeFileSync(file, gzipSync(imagesFile(5, 4, 4, () => 0).subarray(0, 50)));
    const message = caughtMessage(() => loadFashionMnist(dir));
    expect(message.startsWith(`${file}: `)).toBe(true);
    expect(message).toContain('truncated');
  });

  test('label and image counts must agree; both files are named', () => {
    const dir = writeFakeSet('count-mismatch', { trainLabels: 4 });
    const message = caughtMessage(() => loadFashionMnist(dir));
    expect(message).toContain(join(dir, 'train-labels-idx1-ubyte.gz'));
    expect(message).toContain(join(dir, 'train-images-idx3-ubyte.gz'));
    expect(message).toContain('4 labels for the 5 images');
  });

  test('train and test images must have the same size', () => {
    const dir = writeFakeSet('size-mismatch', { testRows: 5 });
    expect(caughtMessage(() => loadFashionMnist(dir))).toContain('training images are 4×4 pixels but t10k images are 5×4');
  });

  test('ten class names in label order', () => {
    expect(FASHION_MNIST_CLASS_NAMES.length).toBe(10);
    expect(FASHION_MNIST_CLASS_NAMES[0]).toBe('T-shirt/top');
    expect(FASHION_MNIST_CLASS_NAMES[9]).toBe('Ankle boot');
  });
});

// ---------------------------------------------------------------------------
// Synthetic audio
// ---------------------------------------------------------------------------

const FS = 16000;

function noise(type: NoiseType, seed: number, length: number): Float64Array {
  const out = new Float64Array(length);
  noiseSignal(type, makeRng(seed), FS, out);
  return out;
}

function clean(seed: number, length: number): Float64Array {
  const out = new Float64Array(length);
  cleanSignal(makeRng(seed), FS, out);
  return out;
}

/** Welch power spectrum: Hann-windowed n-point segments, 50 % overlap, |X[k]|² averaged; bins 0 … n/2. */
function welch(x: Float64Array, n: number): Float64Array {
  const fft = new FFT(n);
  const out = fft.createComplexArray() as number[];
  const frame = new Float64Array(n);
  const power = new Float64Array(n / 2 + 1);
  let segments = 0;
  for (let start = 0; start + n <= x.length; start += n / 2) {
    for (let j = 0; j < n; j++) frame[j] = x[start + j] * (0.5 - 0.5 * Math.cos((2 * Math.PI * j) / n));
    fft.realTransform(out, frame);
    for (let k = 0; k <= n / 2; k++) power[k] += out[2 * k] ** 2 + out[2 * k + 1] ** 2;
    segments++;
  }
  return power.map((p) => p / segments);
}

/** Least-squares slope in dB per octave of the mean power density in octave bands [lo·2^b, lo·2^(b+1)). */
function octaveSlopeDb(x: Float64Array, loHz: number, octaves: number): number {
  const n = 2048;
  const power = welch(x, n);
  const points: [number, number][] = [];
  for (let b = 0; b < octaves; b++) {
    const lo = loHz * 2 ** b;
    let sum = 0;
    let bins = 0;
    for (let k = 0; k <= n / 2; k++) {
      const hz = (k * FS) / n;
      if (hz >= lo && hz < 2 * lo) {
        sum += power[k];
        bins++;
      }
    }
    points.push([b, 10 * Math.log10(sum / bins)]);
  }
  const mb = points.reduce((s, [b]) => s + b, 0) / points.length;
  const md = points.reduce((s, [, d]) => s + d, 0) / points.length;
  let num = 0;
  let den = 0;
  for (const [b, d] of points) {
    num += (b - mb) * (d - md);
    den += (b - mb) ** 2;
  }
  return num / den;
}

describe('synthetic audio', () => {
  test('every signal is a pure function of its seed', () => {
    for (const type of NOISE_TYPES) {
      const a = noise(type, 42, 4000);
      expect(noise(type, 42, 4000)).toEqual(a);
      expect(noise(type, 43, 4000)).not.toEqual(a);
      expect(a.every(Number.isFinite)).toBe(true);
    }
    const c = clean(7, 8000);
    expect(clean(7, 8000)).toEqual(c);
    expect(clean(8, 8000)).not.toEqual(c);
  });

  test('clean signals are finite, audible, and band-limited below 0.45·fs', () => {
    for (const seed of [1, 2, 3, 4]) {
      const c = clean(seed, 16384);
      expect(c.every(Number.isFinite)).toBe(true);
      expect(meanSquare(c)).toBeGreaterThan(1e-4);
      // Harmonics stop below 0.45·fs and chirps below 0.35·fs; only envelope edges leak above.
      const power = welch(c, 512);
      const total = power.reduce((a, b) => a + b, 0);
      const high = power.slice(Math.ceil(0.46 * 512)).reduce((a, b) => a + b, 0);
      expect(high / total).toBeLessThan(1e-3);
    }
  });

  test('cleanSignal overwrites its buffer (no leftover from a previous call)', () => {
    const out = new Float64Array(3000).fill(5);
    cleanSignal(makeRng(3), FS, out);
    expect(out).toEqual(clean(3, 3000));
  });

  test('white noise: flat spectrum, unit variance', () => {
    const x = noise('white', 1, 1 << 17);
    expect(Math.abs(octaveSlopeDb(x, 62.5, 7))).toBeLessThan(0.3);
    expect(meanSquare(x)).toBeCloseTo(1, 1);
  });

  test('pink noise: ≈ −3 dB/octave from 62.5 Hz to 4 kHz', () => {
    for (const seed of [1, 2]) expect(Math.abs(octaveSlopeDb(noise('pink', seed, 1 << 17), 62.5, 6) + 3)).toBeLessThan(0.6);
  });

  test('brown noise: ≈ −6 dB/octave from 62.5 Hz to 4 kHz, flat below its 20 Hz corner', () => {
    for (const seed of [1, 2]) {
      const x = noise('brown', seed, 1 << 17);
      expect(Math.abs(octaveSlopeDb(x, 62.5, 6) + 6)).toBeLessThan(0.6);
    }
  });

  test('brown noise starts in its steady state: variance 1/(1 − ρ²) at sample 0 and later', () => {
    const rho = Math.exp((-2 * Math.PI * 20) / FS);
    const expected = 1 / (1 - rho * rho);
    let first = 0;
    let later = 0;
    const seeds = 400;
    for (let s = 0; s < seeds; s++) {
      const x = noise('brown', 1000 + s, 301);
      first += x[0] ** 2;
      later += x[300] ** 2;
    }
    // 400 draws: the variance estimate has a relative standard error of √(2/400) ≈ 7 %.
    expect(first / seeds / expected).toBeGreaterThan(0.75);
    expect(first / seeds / expected).toBeLessThan(1.25);
    expect(later / seeds / expected).toBeGreaterThan(0.75);
    expect(later / seeds / expected).toBeLessThan(1.25);
  });

  test('babble: 3–6 unit-power talkers within 6 dB of each other', () => {
    for (const seed of [1, 2, 3]) {
      const x = noise('babble', seed, 8000);
      // Between 3 talkers at −6 dB (0.75) and 6 at 0 dB (6), give or take their correlation.
      expect(meanSquare(x)).toBeGreaterThan(0.4);
      expect(meanSquare(x)).toBeLessThan(10);
    }
  });

  test('mixAtSnr gives the requested SNR within 1e-9 dB and returns the noise gain', () => {
    const c = clean(5, 6000);
    for (const type of NOISE_TYPES) {
      const n = noise(type, 9, 6000);
      for (const snrDb of [-10, -5, 0, 3.7, 20, 40]) {
        const noisy = new Float64Array(c.length);
        const gain = mixAtSnr(c, n, snrDb, noisy);
        const residual = noisy.map((v, i) => v - c[i]);
        expect(Math.abs(10 * Math.log10(meanSquare(c) / meanSquare(residual)) - snrDb)).toBeLessThan(1e-9);
        expect(gain).toBeCloseTo(Math.sqrt(meanSquare(c) / meanSquare(n) / 10 ** (snrDb / 10)), 12);
        for (let i = 0; i < c.length; i += 997) expect(noisy[i]).toBe(c[i] + gain * n[i]);
      }
    }
  });

  test('mixAtSnr in place (noisy aliasing noise, as denoise calls it) equals the separate form', () => {
    const c = clean(6, 3000);
    const n = noise('pink', 6, 3000);
    const separate = new Float64Array(3000);
    mixAtSnr(c, n, 2.5, separate);
    const inPlace = Float64Array.from(n);
    mixAtSnr(c, inPlace, 2.5, inPlace);
    expect(inPlace).toEqual(separate);
  });
});
