// The C target against the integer reference, bit for bit, in both strategies,
// compiled with -std=c99 -pedantic -Wall -Wextra -Werror (CI installs a C compiler).

import { buildHostProgram, findCompiler } from '../../host/compile/c_build';
import { emitC } from '../../host/compile/c_target';
import { quantizeModel } from '../../host/compress/quantize';
import { QuantModel } from '../../host/model/quant';
import { randomModel } from '../../host/model/random';
import { quantizeInput, runInt } from '../../host/reference/int';
import { makeRng } from '../../host/util/rng';

function model(i: number, sparsity: number): QuantModel {
  const rng = makeRng(500 + i);
  const dim = (): number => 1 + rng.int(64);
  const d_in = dim();
  const m = randomModel({
    d_in, d_model: dim(), d_state: dim(), d_out: dim(), n_layers: i % 3,
    act: i % 2 ? 'relu' : 'gelu', encoder_act: i % 3 === 1 ? 'relu' : 'none', gate: (i >> 1) % 2 === 0, sparsity, seed: 70 + i,
  });
  return quantizeModel(m, { sequences: [{ data: Float64Array.from({ length: 100 * d_in }, () => rng.normal()), T: 100 }] }, { perChannel: i % 2 === 0 });
}

test('a C compiler is installed (CI installs gcc)', () => {
  expect(findCompiler()).toBeDefined();
});

const cases = [0, 0.5, 0.9, 0.95, 0.99, 0.8].flatMap((s, i) => (['csr', 'unrolled'] as const).map((kernel) => ({ name: `#${i} s=${s} ${kernel}`, i, s, kernel })));

test.each(cases)('$name: equals the integer reference exactly for 3000 steps', ({ i, s, kernel }) => {
  const q = model(i, s);
  const prog = buildHostProgram(q, { kernel, cflags: ['-O2'] })!;
  try {
    const rng = makeRng(i);
    const T = 3000;
    const x = Int16Array.from({ length: T * q.config.d_in }, () => quantizeInput(3 * rng.normal(), q.inputFrac));
    const out = prog.run(x);
    const ref = runInt(q, x, T);
    expect(out.length).toBe(ref.length);
    let first = -1;
    for (let k = 0; k < ref.length && first < 0; k++) if (out[k] !== ref[k]) first = k;
    expect(first).toBe(-1);
  } finally {
    prog.dispose();
  }
});

test('the generated source includes only <stdint.h> and uses no floating point', () => {
  const c = emitC(model(3, 0.9), { kernel: 'unrolled' });
  const includes = [...(c.header + c.source).matchAll(/#include\s+(\S+)/g)].map((m) => m[1]);
  expect(includes.sort()).toEqual(['"sparrow_model.h"', '<stdint.h>']);
  expect(c.source).not.toMatch(/\b(float|double|malloc)\b/);
  expect(c.kernels.every((k) => k.kernel === 'unrolled')).toBe(true);
});
