// .npy and CSV sequences: a hand-built .npy per the NumPy format spec, round trips, and errors.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseNpy, serializeNpy } from '../../host/model/npy';
import { formatSequenceCsv, readSequence, writeSequence } from '../../host/model/sequence';
import { SparrowError } from '../../host/util/errors';

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-seq-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (name: string, data: string | Uint8Array): string => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
};

test('a .npy built byte by byte from the format spec (v1.0, <f8, shape (2, 3))', () => {
  const header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
  const padded = header.padEnd(128 - 10 - 1) + '\n'; // 10-byte preamble + header + '\n' = 128
  const bytes = new Uint8Array(128 + 6 * 8);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0); // \x93NUMPY, version 1.0
  new DataView(bytes.buffer).setUint16(8, padded.length, true);
  bytes.set(new TextEncoder().encode(padded), 10);
  const values = [1.5, -2, 0.25, 3, 4, -5.125];
  values.forEach((v, i) => new DataView(bytes.buffer).setFloat64(128 + 8 * i, v, true));
  const arr = parseNpy(bytes, 'x.npy');
  expect(arr.shape).toEqual([2, 3]);
  expect(Array.from(arr.data as Float64Array)).toEqual(values);
  const seq = readSequence(file('x.npy', bytes), 3);
  expect([seq.T, seq.width]).toEqual([2, 3]);
  expect(Array.from(seq.data)).toEqual(values);
});

test('serializeNpy is what NumPy writes: data at a multiple of 64 bytes, round trip', () => {
  const data = Float32Array.from([0.1, 0.2, 0.3, 0.4]);
  const bytes = serializeNpy(data, [4, 1]);
  const headerLen = new DataView(bytes.buffer).getUint16(8, true);
  expect((10 + headerLen) % 64).toBe(0);
  expect(new TextDecoder().decode(bytes.subarray(10, 10 + headerLen))).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(4, 1\), \} *\n$/);
  expect(Array.from(parseNpy(bytes, 'y.npy').data as Float32Array)).toEqual(Array.from(data));
});

test('CSV: header line, comments and blank lines skipped; writing round-trips float32 exactly', () => {
  const seq = readSequence(file('a.csv', 'left,right\n# a comment\n1,2\n\n3.5,-4\n'), 2);
  expect(Array.from(seq.data)).toEqual([1, 2, 3.5, -4]);
  const data = Float32Array.from([Math.fround(0.1), Math.fround(-1e-7), Math.fround(12345.678), 0]);
  const out = path.join(dir, 'o.csv');
  writeSequence(out, data, 2, 2);
  expect(Array.from(readSequence(out).data)).toEqual(Array.from(data));
  expect(formatSequenceCsv(data, 2, 2).split('\n')[0]).toBe('0.1,-1e-7');
  writeSequence(path.join(dir, 'o.npy'), data, 2, 2);
  expect(Array.from(readSequence(path.join(dir, 'o.npy')).data)).toEqual(Array.from(data));
});

test.each([
  ['wrong width', 'w.csv', '1,2,3\n4,5,6\n', 2, 'd_in = 2'],
  ['ragged rows', 'r.csv', '1,2\n3\n', undefined, 'line 2'],
  ['NaN', 'n.csv', '1,2\nnan,3\n', undefined, 'line 2, column 1'],
  ['zero rows', 'z.csv', 'a,b\n', undefined, 'zero time steps'],
  ['unknown extension', 'x.txt', '1\n', undefined, 'unknown sequence format'],
])('bad input: %s', (_name, name, content, width, fragment) => {
  expect(() => readSequence(file(name, content), width)).toThrow(SparrowError);
  expect(() => readSequence(file(name, content), width)).toThrow(fragment);
});

test('bad .npy: big-endian, Fortran order, truncated data', () => {
  const good = serializeNpy(Float32Array.from([1, 2]), [2]);
  // Patch header bytes in place (the magic byte 0x93 is not valid UTF-8, so no text round trip).
  const patch = (from: string, to: string): Uint8Array => {
    const text = Array.from(good.subarray(0, 64), (b) => String.fromCharCode(b)).join('');
    const at = text.indexOf(from);
    const out = good.slice();
    for (let i = 0; i < to.length; i++) out[at + i] = to.charCodeAt(i);
    return out;
  };
  expect(() => parseNpy(patch("'<f4'", "'>f4'"), 'b.npy')).toThrow(/big-endian/);
  expect(() => parseNpy(patch('False', 'True '), 'f.npy')).toThrow(/Fortran/);
  expect(() => parseNpy(good.subarray(0, good.length - 1), 't.npy')).toThrow(/truncated/);
});
