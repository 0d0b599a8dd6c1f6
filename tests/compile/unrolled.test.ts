// Weights in code: decodeUnrolled is the exact inverse of unrolledFunction on a hand-made matrix
// (weights 1, −1 first and later in a row, −128, 127, an empty row), and refuses anything else.

import { decodeUnrolled, unrolledFunction } from '../../host/compile/unrolled';
import { QMatrix } from '../../host/model/quant';

const m: QMatrix = {
  kind: 'csr', rows: 4, cols: 300,
  indptr: Int32Array.of(0, 3, 3, 6, 8),
  indices: Int32Array.of(0, 5, 299, 1, 2, 200, 7, 8),
  values: Int8Array.of(1, -1, 1, -1, -128, 127, 3, -7),
  rowFrac: new Int8Array(4),
};

test('decode(generate(m)) = m, row by row', () => {
  const d = decodeUnrolled(unrolledFunction(m).code, 4, 300)!;
  expect(Array.from(d.indptr!)).toEqual(Array.from(m.indptr!));
  expect(Array.from(d.indices!)).toEqual(Array.from(m.indices!));
  expect(Array.from(d.values)).toEqual(Array.from(m.values));
});

test('explicit zeros generate nothing and decode as absent', () => {
  const withZero: QMatrix = { ...m, values: Int8Array.of(1, 0, 1, -1, -128, 127, 3, -7) };
  const d = decodeUnrolled(unrolledFunction(withZero).code, 4, 300)!;
  expect(Array.from(d.indices!.subarray(0, 2))).toEqual([0, 299]);
});

test('anything but the generated form is refused: another shape, a changed byte, a truncated body', () => {
  const code = unrolledFunction(m).code;
  expect(decodeUnrolled(code, 3, 300)).toBeUndefined();
  expect(decodeUnrolled(code, 4, 200)).toBeUndefined(); // column 299 out of range
  expect(decodeUnrolled(code.subarray(0, code.length - 1), 4, 300)).toBeUndefined();
  for (let i = 0; i < code.length; i++) {
    const bad = code.slice();
    bad[i] ^= 0x40;
    const d = decodeUnrolled(bad, 4, 300);
    // A flip that still decodes must be another matrix in canonical form, never silently the same one.
    if (d) expect(unrolledFunction(d).code).toEqual(bad);
  }
});
