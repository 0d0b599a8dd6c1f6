// ============================================================================
// Host-side training kernel (never part of a firmware engine, so SIMD is fine
// here): C[m, n] += Σ_k A(i, k)·B[k, n] in float64, A addressed through
// strides so one routine serves A·B and Aᵀ·B. host/train/gemm.ts copies the
// operands into this module's memory, calls gemmStridedA and copies C back;
// its TypeScript core is the same algorithm, and both add the products in
// the same order with separate multiplies and adds, so they agree bit for bit.
//
// Blocking: 4 rows of C × 4 columns (two f64x2) in 8 vector accumulators; per
// k, 4 scalar loads of A (splatted) and 2 vector loads of B feed 8 vector
// multiply-adds. K is walked in chunks of K_CHUNK so a chunk's panels of A
// and B stay in cache when K is the long N·T axis.
// Built by scripts/build.mjs into build/train-gemm.wasm.
// ============================================================================

const K_CHUNK: i32 = 256;

/** First free byte: the host places its operands from here. */
export function heapBase(): usize {
  return __heap_base;
}

/** Rows i..i+3 of C over k in [k0, k1). Addresses in bytes; ars, aks, n in elements. */
function rows4(n: i32, k0: i32, k1: i32, a: usize, ars: i32, aks: i32, b: usize, c: usize): void {
  const rs = <usize>ars << 3;
  const ks = <usize>aks << 3;
  const bs = <usize>n << 3;
  const a0 = a + <usize>k0 * ks;
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const c0 = c + (<usize>j << 3);
    const c1 = c0 + bs;
    const c2 = c1 + bs;
    const c3 = c2 + bs;
    let c0l = v128.load(c0), c0h = v128.load(c0, 16);
    let c1l = v128.load(c1), c1h = v128.load(c1, 16);
    let c2l = v128.load(c2), c2h = v128.load(c2, 16);
    let c3l = v128.load(c3), c3h = v128.load(c3, 16);
    let pa = a0;
    let pb = b + <usize>k0 * bs + (<usize>j << 3);
    for (let q = k0; q < k1; q++) {
      const bl = v128.load(pb);
      const bh = v128.load(pb, 16);
      const x0 = f64x2.splat(load<f64>(pa));
      const x1 = f64x2.splat(load<f64>(pa + rs));
      const x2 = f64x2.splat(load<f64>(pa + 2 * rs));
      const x3 = f64x2.splat(load<f64>(pa + 3 * rs));
      c0l = f64x2.add(c0l, f64x2.mul(x0, bl)); c0h = f64x2.add(c0h, f64x2.mul(x0, bh));
      c1l = f64x2.add(c1l, f64x2.mul(x1, bl)); c1h = f64x2.add(c1h, f64x2.mul(x1, bh));
      c2l = f64x2.add(c2l, f64x2.mul(x2, bl)); c2h = f64x2.add(c2h, f64x2.mul(x2, bh));
      c3l = f64x2.add(c3l, f64x2.mul(x3, bl)); c3h = f64x2.add(c3h, f64x2.mul(x3, bh));
      pa += ks;
      pb += bs;
    }
    v128.store(c0, c0l); v128.store(c0, c0h, 16);
    v128.store(c1, c1l); v128.store(c1, c1h, 16);
    v128.store(c2, c2l); v128.store(c2, c2h, 16);
    v128.store(c3, c3l); v128.store(c3, c3h, 16);
  }
  for (; j < n; j++) {
    const c0 = c + (<usize>j << 3);
    let s0 = load<f64>(c0), s1 = load<f64>(c0 + bs), s2 = load<f64>(c0 + 2 * bs), s3 = load<f64>(c0 + 3 * bs);
    let pa = a0;
    let pb = b + <usize>k0 * bs + (<usize>j << 3);
    for (let q = k0; q < k1; q++) {
      const bq = load<f64>(pb);
      s0 += load<f64>(pa) * bq;
      s1 += load<f64>(pa + rs) * bq;
      s2 += load<f64>(pa + 2 * rs) * bq;
      s3 += load<f64>(pa + 3 * rs) * bq;
      pa += ks;
      pb += bs;
    }
    store<f64>(c0, s0); store<f64>(c0 + bs, s1); store<f64>(c0 + 2 * bs, s2); store<f64>(c0 + 3 * bs, s3);
  }
}

/** One row of C over k in [k0, k1). */
function row1(n: i32, k0: i32, k1: i32, a: usize, aks: i32, b: usize, c: usize): void {
  const ks = <usize>aks << 3;
  const bs = <usize>n << 3;
  const a0 = a + <usize>k0 * ks;
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const c0 = c + (<usize>j << 3);
    let cl = v128.load(c0), ch = v128.load(c0, 16);
    let pa = a0;
    let pb = b + <usize>k0 * bs + (<usize>j << 3);
    for (let q = k0; q < k1; q++) {
      const x = f64x2.splat(load<f64>(pa));
      cl = f64x2.add(cl, f64x2.mul(x, v128.load(pb)));
      ch = f64x2.add(ch, f64x2.mul(x, v128.load(pb, 16)));
      pa += ks;
      pb += bs;
    }
    v128.store(c0, cl); v128.store(c0, ch, 16);
  }
  for (; j < n; j++) {
    const c0 = c + (<usize>j << 3);
    let s = load<f64>(c0);
    let pa = a0;
    let pb = b + <usize>k0 * bs + (<usize>j << 3);
    for (let q = k0; q < k1; q++) {
      s += load<f64>(pa) * load<f64>(pb);
      pa += ks;
      pb += bs;
    }
    store<f64>(c0, s);
  }
}

/**
 * C[i, j] += Σ_k A[i·ars + k·aks]·B[k·n + j] for i < m, j < n, k < kDim; a, b, c are
 * byte addresses of float64 arrays, B [kDim, n] and C [m, n] dense row-major.
 */
export function gemmStridedA(m: i32, n: i32, kDim: i32, a: usize, ars: i32, aks: i32, b: usize, c: usize): void {
  const rs = <usize>ars << 3;
  const cs = <usize>n << 3;
  for (let k0 = 0; k0 < kDim; k0 += K_CHUNK) {
    const k1 = min(kDim, k0 + K_CHUNK);
    let i = 0;
    for (; i + 4 <= m; i += 4) rows4(n, k0, k1, a + <usize>i * rs, ars, aks, b, c + <usize>i * cs);
    for (; i < m; i++) row1(n, k0, k1, a + <usize>i * rs, aks, b, c + <usize>i * cs);
  }
}
