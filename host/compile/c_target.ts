// ============================================================================
// `sparrow compile --target c`: a dependency-free C99 implementation of the
// integer step, bit-exact with host/reference/int.ts (and so with the wasm
// firmware). Two files: sparrow_model.h (the API) and sparrow_model.c (weights
// as `static const` arrays — in flash on a microcontroller — and the step).
//
// Strategies per matrix, as for wasm: 'csr' (dense arrays for dense matrices,
// CSR with u16 columns otherwise) or 'unrolled' (one straight-line sum per
// row with the weights as immediates). Only <stdint.h> is included; there is
// no allocation, no libc call and no floating point.
// ============================================================================

import { QMatrix, QuantModel } from '../model/quant';
import { checkSma, KernelStrategy } from './layout_i16';
import { modelShifts } from './shifts';
import { nonzerosOf } from './unrolled';

export interface CTargetOptions {
  kernel?: KernelStrategy | ((name: string, m: QMatrix) => KernelStrategy);
  /** Identifier prefix of the API (default `sparrow`). */
  prefix?: string;
}

export interface CSources {
  header: string;
  source: string;
  /** Strategy of each matrix, by name. */
  kernels: { name: string; kernel: KernelStrategy | 'dense' }[];
}

function array(ctype: string, name: string, values: ArrayLike<number>): string {
  const items: string[] = [];
  for (let i = 0; i < values.length; i++) items.push(String(values[i]));
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += 24) lines.push('  ' + items.slice(i, i + 24).join(', '));
  // INT32_MIN cannot be written as a literal; no int32 parameter of a model reaches it, but stay correct.
  const body = lines.join(',\n').replace(/-2147483648/g, '(-2147483647 - 1)');
  return `static const ${ctype} ${name}[${Math.max(1, values.length)}] = {\n${body || '  0'}\n};\n`;
}

const PRELUDE = `
#if (-1 >> 1) != -1
#error "sparrow: needs an arithmetic right shift of negative integers (every mainstream compiler)"
#endif

/* Rounding shift, round half up; k <= 0 multiplies by 2^-k. Exact in 64 bits for |k| <= 62. */
static inline int64_t sp_rshift(int64_t a, int k) {
  return k <= 0 ? a * ((int64_t)1 << -k) : (a + ((int64_t)1 << (k - 1))) >> k;
}

static inline int16_t sp_sat16(int64_t a) {
  return (int16_t)(a < -32768 ? -32768 : a > 32767 ? 32767 : a);
}

`;

const LUT = `
/* 257-entry table over the int16 range, linear interpolation on the low 8 bits. */
static inline int16_t sp_lut(const int16_t *t, int32_t x) {
  int32_t o = x + 32768, i = o >> 8, f = o & 255;
  return (int16_t)(t[i] + (((t[i + 1] - t[i]) * f + 128) >> 8));
}
`;

const DENSE = `
static void sp_dense(const int8_t *w, int rows, int cols, const int16_t *x, int32_t *acc) {
  for (int r = 0; r < rows; r++) {
    int32_t s = 0;
    for (int c = 0; c < cols; c++) s += (int32_t)w[r * cols + c] * x[c];
    acc[r] = s;
  }
}
`;

const CSR = `
static void sp_csr(const uint32_t *ptr, const uint16_t *col, const int8_t *w, int rows, const int16_t *x, int32_t *acc) {
  uint32_t k = ptr[0];
  for (int r = 0; r < rows; r++) {
    int32_t s = 0;
    for (uint32_t end = ptr[r + 1]; k < end; k++) s += (int32_t)w[k] * x[col[k]];
    acc[r] = s;
  }
}
`;

/** A one-row matrix's values, dense. */
function denseRow(m: QMatrix): Int8Array {
  if (m.kind === 'dense') return m.values;
  const out = new Int8Array(m.cols);
  for (let k = m.indptr![0]; k < m.indptr![1]; k++) out[m.indices![k]] = m.values[k];
  return out;
}

export function emitC(q: QuantModel, opts: CTargetOptions = {}): CSources {
  const c = q.config;
  const H = c.d_model;
  const P = c.d_state;
  const pre = opts.prefix ?? 'sparrow';
  const upper = pre.toUpperCase();
  const choose = typeof opts.kernel === 'function' ? opts.kernel : (): KernelStrategy => (opts.kernel as KernelStrategy | undefined) ?? 'csr';
  const sh = modelShifts(q);
  checkSma(q);
  const decls: string[] = [];
  const kernels: CSources['kernels'] = [];
  let id = 0;

  /** Emits a matrix's data or code; returns the C statement computing acc = W x. */
  const matvec = (m: QMatrix, name: string, x: string, acc: string): string => {
    const tag = `m${id++}`;
    if (choose(name, m) === 'unrolled') {
      kernels.push({ name, kernel: 'unrolled' });
      const nz = nonzerosOf(m);
      const lines = [`/* ${name}: weights in code, ${nz.values.length} nonzeros */`, `static void ${tag}(const int16_t *x, int32_t *acc) {`];
      for (let r = 0; r < m.rows; r++) {
        const terms: string[] = [];
        for (let k = nz.rowStart[r]; k < nz.rowStart[r + 1]; k++) terms.push(`${nz.values[k]} * x[${nz.cols[k]}]`);
        lines.push(`  acc[${r}] = ${terms.length ? terms.join(' + ').replace(/\+ -/g, '- ') : '0'};`);
      }
      lines.push('}\n');
      decls.push(lines.join('\n'));
      return `${tag}(${x}, ${acc});`;
    }
    if (m.kind === 'dense') {
      kernels.push({ name, kernel: 'dense' });
      decls.push(`/* ${name}: dense ${m.rows}x${m.cols} */\n` + array('int8_t', `${tag}_w`, m.values));
      return `sp_dense(${tag}_w, ${m.rows}, ${m.cols}, ${x}, ${acc});`;
    }
    kernels.push({ name, kernel: 'csr' });
    decls.push(
      `/* ${name}: CSR ${m.rows}x${m.cols}, ${m.indptr![m.rows]} stored */\n` +
        array('uint32_t', `${tag}_ptr`, m.indptr!) + array('uint16_t', `${tag}_col`, m.indices!) + array('int8_t', `${tag}_w`, m.values),
    );
    return `sp_csr(${tag}_ptr, ${tag}_col, ${tag}_w, ${m.rows}, ${x}, ${acc});`;
  };
  const vec = (ctype: string, name: string, v: ArrayLike<number>): string => {
    decls.push(array(ctype, name, v));
    return name;
  };

  const body: string[] = [];
  const b = (s: string): number => body.push('  ' + s);
  b(`int16_t u[${H}], v[${H}], y[${H}], a[${H}], z[${H}];`);
  b(`int32_t acc_re[${Math.max(H, P, c.d_out)}], acc_im[${Math.max(H, P, c.d_out)}];`);
  b('(void)v; (void)y; (void)a; (void)z; (void)acc_im;');
  b(matvec(q.encoderWeight, 'encoder.weight', 'in', 'acc_re'));
  const eb = vec('int32_t', 'enc_bias', q.encoderBias);
  const es = vec('int8_t', 'enc_shift', sh.encoder);
  b(`for (int h = 0; h < ${H}; h++) {`);
  b(`  int16_t q = sp_sat16(sp_rshift((int64_t)acc_re[h] + ${eb}[h], ${es}[h]));`);
  b(c.encoder_act === 'relu' ? '  u[h] = q < 0 ? 0 : q;' : '  u[h] = q;');
  b('}');
  q.layers.forEach((L, i) => {
    const ls = sh.layers[i];
    const n = `l${i}`;
    const w = `layers.${i}`;
    b(`/* layer ${i} */`);
    const ns = vec('int16_t', `${n}_norm_scale`, L.normScale);
    const nb = vec('int32_t', `${n}_norm_shift`, L.normShift);
    b(`for (int h = 0; h < ${H}; h++) v[h] = sp_sat16(sp_rshift((int64_t)((int32_t)${ns}[h] * u[h]) + ${nb}[h], ${ls.norm}));`);
    b(matvec(L.B_re, `${w}.ssm.B_re`, 'v', 'acc_re'));
    b(matvec(L.B_im, `${w}.ssm.B_im`, 'v', 'acc_im'));
    const lr = vec('int16_t', `${n}_lambda_re`, L.lambdaRe);
    const li = vec('int16_t', `${n}_lambda_im`, L.lambdaIm);
    const bs = vec('int8_t', `${n}_b_shift`, ls.B);
    b(`for (int p = 0; p < ${P}; p++) {`);
    b(`  int32_t lr = ${lr}[p], li = ${li}[p], sr = s_re[${i}][p], si = s_im[${i}][p]; /* int16 products fit int32 */`);
    b(`  s_re[${i}][p] = sp_sat16(sp_rshift((int64_t)(lr * sr) - (int64_t)(li * si), 15) + sp_rshift(acc_re[p], ${bs}[p]));`);
    b(`  s_im[${i}][p] = sp_sat16(sp_rshift((int64_t)(lr * si) + (int64_t)(li * sr), 15) + sp_rshift(acc_im[p], ${bs}[p]));`);
    b('}');
    b(matvec(L.C_re, `${w}.ssm.C_re`, `s_re[${i}]`, 'acc_re'));
    b(matvec(L.C_im, `${w}.ssm.C_im`, `s_im[${i}]`, 'acc_im'));
    const cs = vec('int8_t', `${n}_c_shift`, ls.C);
    const d = vec('int8_t', `${n}_d`, L.D);
    const act = c.act === 'gelu' ? vec('int16_t', `${n}_gelu`, L.actLut!) : '';
    b(`for (int h = 0; h < ${H}; h++) {`);
    b(`  y[h] = sp_sat16(sp_rshift((int64_t)acc_re[h] - acc_im[h], ${cs}[h]) + sp_rshift((int32_t)${d}[h] * v[h], ${ls.D}));`);
    b(c.act === 'gelu' ? `  a[h] = sp_lut(${act}, y[h]);` : '  a[h] = y[h] > 0 ? y[h] : 0;');
    b('}');
    const gate = (indent: string): void => {
      b(indent + matvec(L.gateWeight!, `${w}.gate.weight`, 'a', 'acc_re'));
      const gb = vec('int32_t', `${n}_gate_bias`, L.gateBias!);
      const gs = vec('int8_t', `${n}_gate_shift`, ls.gate!);
      const sig = vec('int16_t', `${n}_sigmoid`, L.sigmoidLut!);
      b(indent + `for (int h = 0; h < ${H}; h++) {`);
      b(indent + `  int16_t g = sp_sat16(sp_rshift((int64_t)acc_re[h] + ${gb}[h], ${gs}[h]));`);
      b(indent + `  z[h] = (int16_t)(((int32_t)a[h] * sp_lut(${sig}, g) + 16384) >> 15);`);
      b(indent + '}');
    };
    const residual = (indent: string, zs: string): void => {
      b(indent + `for (int h = 0; h < ${H}; h++) u[h] = sp_sat16(sp_rshift(u[h], ${ls.u}) + sp_rshift(${zs}[h], ${ls.z}));`);
    };
    if (c.sma) {
      // The decision row is always a table (H int8, a plain loop), whatever the kernel strategy.
      const sw = vec('int8_t', `${n}_sma_w`, denseRow(L.smaWeight!));
      const sb = vec('int32_t', `${n}_sma_bias`, L.smaBias!);
      b('{ /* SMA: the gate runs this step iff w.y + b > 0, decided before any of its work */');
      b('  const int16_t *zs = a;');
      b(`  int64_t d = ${sb}[0];`);
      b(`  for (int h = 0; h < ${H}; h++) d += (int32_t)${sw}[h] * y[h];`);
      b('  if (d > 0) {');
      gate('    ');
      b('    zs = z;');
      b('  }');
      residual('  ', 'zs');
      b('}');
    } else if (c.gate) {
      gate('');
      residual('', 'z');
    } else {
      residual('', 'a');
    }
  });
  b(matvec(q.decoderWeight, 'decoder.weight', 'u', 'acc_re'));
  const db = vec('int32_t', 'dec_bias', q.decoderBias);
  const ds = vec('int8_t', 'dec_shift', sh.decoder);
  b(`for (int j = 0; j < ${c.d_out}; j++) out[j] = sp_sat16(sp_rshift((int64_t)acc_re[j] + ${db}[j], ${ds}[j]));`);

  const L = Math.max(1, c.n_layers);
  const header = `/* Generated by sparrow (integer w8a16 model, C99 target). Bit-exact with sparrow's integer reference.
 * ${c.d_in} inputs -> H=${H}, P=${P}, ${c.n_layers} layers -> ${c.d_out} outputs.
 * Real input x enters as sat16(round(x * 2^${upper}_INPUT_FRAC)); output o = o_q * 2^-${upper}_OUTPUT_FRAC. */
#ifndef ${upper}_MODEL_H
#define ${upper}_MODEL_H
#include <stdint.h>
#define ${upper}_D_IN ${c.d_in}
#define ${upper}_D_OUT ${c.d_out}
#define ${upper}_INPUT_FRAC ${q.inputFrac}
#define ${upper}_OUTPUT_FRAC ${q.outputFrac}
/* Clear the recurrent state (call once before the first step of a stream). */
void ${pre}_reset(void);
/* One time step: in[${upper}_D_IN] -> out[${upper}_D_OUT]. Not reentrant: the state is static. */
void ${pre}_step(const int16_t *in, int16_t *out);
#endif
`;
  const source = `/* Generated by sparrow: see ${pre}_model.h. */
#include "${pre}_model.h"
${PRELUDE}${c.act === 'gelu' || c.gate ? LUT : ''}${kernels.some((k) => k.kernel === 'dense') ? DENSE : ''}${kernels.some((k) => k.kernel === 'csr') ? CSR : ''}
static int16_t s_re[${L}][${P}], s_im[${L}][${P}];

${decls.join('\n')}
void ${pre}_reset(void) {
  for (int l = 0; l < ${L}; l++)
    for (int p = 0; p < ${P}; p++) s_re[l][p] = s_im[l][p] = 0;
}

void ${pre}_step(const int16_t *in, int16_t *out) {
${body.join('\n')}
}
`;
  return { header, source, kernels };
}

/**
 * A host program around the generated C (tests and `sparrow bench`):
 *   `prog run`      int16 [T, d_in] on stdin → int16 [T, d_out] on stdout (little-endian);
 *   `prog bench N`  N steps on a fixed pseudo-random input after 1,000 warm-up steps,
 *                   prints the mean ns per step (CLOCK_MONOTONIC).
 */
export function emitHostHarness(prefix = 'sparrow'): string {
  const U = prefix.toUpperCase();
  return `#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "${prefix}_model.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* nearest-rank percentile index, as host/bench/timing.ts */
static long rank(long n, int p) {
  long r = (long)((p * n + 99) / 100) - 1;
  return r < 0 ? 0 : r >= n ? n - 1 : r;
}

int main(int argc, char **argv) {
  int16_t in[${U}_D_IN], out[${U}_D_OUT];
  ${prefix}_reset();
  if (argc >= 2 && strcmp(argv[1], "run") == 0) {
    while (fread(in, sizeof in, 1, stdin) == 1) {
      ${prefix}_step(in, out);
      if (fwrite(out, sizeof out, 1, stdout) != 1) return 1;
    }
    return 0;
  }
  if (argc >= 3 && strcmp(argv[1], "bench") == 0) {
    /* Each step timed alone, fresh input every step: the same protocol as the Node bench. */
    long n = atol(argv[2]);
    if (n < 1) return 2;
    double *ns = malloc((size_t)n * sizeof *ns);
    if (!ns) return 1;
    uint32_t seed = 12345;
    volatile int32_t sink = 0;
    struct timespec t0, t1;
    for (long i = -1000; i < n; i++) {
      for (int j = 0; j < ${U}_D_IN; j++) { seed = seed * 1664525u + 1013904223u; in[j] = (int16_t)((int32_t)(seed >> 20) - 2048); }
      clock_gettime(CLOCK_MONOTONIC, &t0);
      ${prefix}_step(in, out);
      clock_gettime(CLOCK_MONOTONIC, &t1);
      sink += out[0];
      if (i >= 0) ns[i] = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    }
    /* the empty interval: two clock reads with nothing between, the timer's own cost */
    double empty = 1e30;
    for (int i = 0; i < 1000; i++) {
      clock_gettime(CLOCK_MONOTONIC, &t0);
      clock_gettime(CLOCK_MONOTONIC, &t1);
      double d = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
      if (d < empty) empty = d;
    }
    qsort(ns, (size_t)n, sizeof *ns, cmp_double);
    double sum = 0;
    for (long i = 0; i < n; i++) sum += ns[i];
    printf("p50_ns %.1f\\np90_ns %.1f\\np99_ns %.1f\\nmean_ns %.1f\\ntimer_ns %.1f\\n", ns[rank(n, 50)], ns[rank(n, 90)], ns[rank(n, 99)], sum / (double)n, empty);
    free(ns);
    return 0;
  }
  fprintf(stderr, "usage: %s run < in.i16 > out.i16 | %s bench STEPS\\n", argv[0], argv[0]);
  return 2;
}
`;
}
