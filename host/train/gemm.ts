// ============================================================================
// Dense float64 matrix products for the training passes (backprop.ts). Batch
// training spends almost all its time here: per layer and sequence-step about
// 12·H·P multiply-adds across six products (B̄ v, C s and their transposes
// and outer products), every one done for all N·T steps at once.
//
// Two implementations of one core, C[m, n] += Σ_k A(i, k)·B[k, n] with A
// addressed through strides (so Aᵀ costs nothing) and B, C dense row-major:
//   tsCore    4×4 register-blocked TypeScript, ≈ 3 GMAC/s on one core;
//   wasmCore  the same blocking in WebAssembly SIMD (f64x2), from
//             assembly-host/gemm_f64.ts, built by scripts/build.mjs into
//             build/train-gemm.wasm and shipped beside dist/sparrow.cjs;
//             ≈ 12 GMAC/s including the copies in and out.
// (One core of an AMD EPYC Zen 5 with [3136, 64]·[64, 128]-sized products; a
// naive dot-product loop manages ≈ 1 GMAC/s.)
// Both add the products into C in the same order with separately rounded
// multiplies and adds (no FMA), so they agree bit for bit. The WASM module is
// loaded synchronously when this file is first imported; if it is missing
// (jest before `npm run build`) or cannot be instantiated, the TypeScript core
// is used. SPARROW_TRAIN_GEMM=ts forces the TypeScript core.
//
// K is walked in chunks of K_CHUNK so the A and B panels of a chunk stay in
// cache when K is N·T (the weight gradients); with a 1 MB L2 this is worth
// only a few per cent, more on smaller caches.
// ============================================================================

import * as fs from 'fs';
import * as path from 'path';

/** C[m, n] (+)= Σ_k A[i·aRowStride + k·aColStride]·B[k·n + j]. */
type Core = (m: number, n: number, k: number, A: Float64Array, aRowStride: number, aColStride: number, B: Float64Array, C: Float64Array, accumulate: boolean) => void;

export interface Gemm {
  /** Which core runs the products. */
  kind: 'wasm' | 'ts';
  /** C[m, n] (+)= A[m, k] · B[k, n] */
  nn(A: Float64Array, B: Float64Array, C: Float64Array, m: number, n: number, k: number, accumulate: boolean): void;
  /** C[m, n] (+)= A[m, k] · B[n, k]ᵀ (B is transposed into a scratch copy first: meant for a small B, a weight). */
  nt(A: Float64Array, B: Float64Array, C: Float64Array, m: number, n: number, k: number, accumulate: boolean): void;
  /** C[m, n] (+)= A[k, m]ᵀ · B[k, n] (the weight-gradient form: k is the long N·T axis). */
  tn(A: Float64Array, B: Float64Array, C: Float64Array, m: number, n: number, k: number, accumulate: boolean): void;
}

const K_CHUNK = 256;

/** out[c, r] = a[r, c] for a [rows, cols] row-major. */
export function transpose(a: Float64Array, rows: number, cols: number, out = new Float64Array(rows * cols)): Float64Array {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = a[o + c];
  }
  return out;
}

// ---------------------------------------------------------------------------
// TypeScript core: 16 accumulators in locals, 8 loads per 16 multiply-adds.
// ---------------------------------------------------------------------------

function tsCore(m: number, n: number, k: number, A: Float64Array, ars: number, aks: number, B: Float64Array, C: Float64Array, accumulate: boolean): void {
  if (!accumulate) C.fill(0, 0, m * n);
  for (let k0 = 0; k0 < k; k0 += K_CHUNK) {
    const k1 = Math.min(k, k0 + K_CHUNK);
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const r0 = i * ars;
      const r1 = r0 + ars;
      const r2 = r1 + ars;
      const r3 = r2 + ars;
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        const o0 = i * n + j;
        const o1 = o0 + n;
        const o2 = o1 + n;
        const o3 = o2 + n;
        let c00 = C[o0], c01 = C[o0 + 1], c02 = C[o0 + 2], c03 = C[o0 + 3];
        let c10 = C[o1], c11 = C[o1 + 1], c12 = C[o1 + 2], c13 = C[o1 + 3];
        let c20 = C[o2], c21 = C[o2 + 1], c22 = C[o2 + 2], c23 = C[o2 + 3];
        let c30 = C[o3], c31 = C[o3 + 1], c32 = C[o3 + 2], c33 = C[o3 + 3];
        for (let q = k0, a = k0 * aks, b = k0 * n + j; q < k1; q++, a += aks, b += n) {
          const b0 = B[b], b1 = B[b + 1], b2 = B[b + 2], b3 = B[b + 3];
          const x0 = A[r0 + a], x1 = A[r1 + a], x2 = A[r2 + a], x3 = A[r3 + a];
          c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
          c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
          c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
          c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
        }
        C[o0] = c00; C[o0 + 1] = c01; C[o0 + 2] = c02; C[o0 + 3] = c03;
        C[o1] = c10; C[o1 + 1] = c11; C[o1 + 2] = c12; C[o1 + 3] = c13;
        C[o2] = c20; C[o2 + 1] = c21; C[o2 + 2] = c22; C[o2 + 3] = c23;
        C[o3] = c30; C[o3 + 1] = c31; C[o3 + 2] = c32; C[o3 + 3] = c33;
      }
      for (; j < n; j++) {
        const o = i * n + j;
        let c0 = C[o], c1 = C[o + n], c2 = C[o + 2 * n], c3 = C[o + 3 * n];
        for (let q = k0, a = k0 * aks, b = k0 * n + j; q < k1; q++, a += aks, b += n) {
          const bq = B[b];
          c0 += A[r0 + a] * bq; c1 += A[r1 + a] * bq; c2 += A[r2 + a] * bq; c3 += A[r3 + a] * bq;
        }
        C[o] = c0; C[o + n] = c1; C[o + 2 * n] = c2; C[o + 3 * n] = c3;
      }
    }
    for (; i < m; i++) {
      const r = i * ars;
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        const o = i * n + j;
        let c0 = C[o], c1 = C[o + 1], c2 = C[o + 2], c3 = C[o + 3];
        for (let q = k0, a = r + k0 * aks, b = k0 * n + j; q < k1; q++, a += aks, b += n) {
          const x = A[a];
          c0 += x * B[b]; c1 += x * B[b + 1]; c2 += x * B[b + 2]; c3 += x * B[b + 3];
        }
        C[o] = c0; C[o + 1] = c1; C[o + 2] = c2; C[o + 3] = c3;
      }
      for (; j < n; j++) {
        let c = C[i * n + j];
        for (let q = k0, a = r + k0 * aks, b = k0 * n + j; q < k1; q++, a += aks, b += n) c += A[a] * B[b];
        C[i * n + j] = c;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// WebAssembly core: operands are copied into the module's memory (O(mk + kn + mn)
// against O(mkn) arithmetic, a few per cent), multiplied there, C copied back.
// ---------------------------------------------------------------------------

interface GemmExports {
  /** WebAssembly.Memory; the typings at hand lack grow(). */
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  heapBase(): number;
  gemmStridedA(m: number, n: number, k: number, a: number, ars: number, aks: number, b: number, c: number): void;
}

export const WASM_FILE = 'train-gemm.wasm';

/** Beside the bundled CLI (dist/), or in build/ of the source tree (host/train/ → ../../build). */
export function wasmGemmCandidates(): string[] {
  return [path.join(__dirname, WASM_FILE), path.join(__dirname, '..', '..', 'build', WASM_FILE)];
}

function loadWasmCore(): { core?: Core; problem?: string } {
  const file = wasmGemmCandidates().find((f) => fs.existsSync(f));
  if (!file) return { problem: `${WASM_FILE} not built` };
  let ex: GemmExports;
  try {
    ex = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(file)), {}).exports as unknown as GemmExports;
  } catch (e) {
    return { problem: `${file}: ${(e as Error).message}` };
  }
  const base = (ex.heapBase() + 15) & ~15;
  let heap = new Float64Array(ex.memory.buffer);
  const align2 = (doubles: number) => (doubles + 1) & ~1; // keep every operand 16-byte aligned
  const core: Core = (m, n, k, A, ars, aks, B, C, accumulate) => {
    if (m === 0 || n === 0 || k === 0) {
      if (!accumulate) C.fill(0, 0, m * n);
      return;
    }
    const aLen = (m - 1) * ars + (k - 1) * aks + 1;
    const a = base / 8;
    const b = a + align2(aLen);
    const c = b + align2(k * n);
    const bytes = (c + m * n) * 8;
    if (bytes > ex.memory.buffer.byteLength) ex.memory.grow(Math.ceil((bytes - ex.memory.buffer.byteLength) / 65536));
    if (heap.buffer !== ex.memory.buffer) heap = new Float64Array(ex.memory.buffer);
    heap.set(A.subarray(0, aLen), a);
    heap.set(B.subarray(0, k * n), b);
    if (accumulate) heap.set(C.subarray(0, m * n), c);
    else heap.fill(0, c, c + m * n);
    ex.gemmStridedA(m, n, k, a * 8, ars, aks, b * 8, c * 8);
    C.set(heap.subarray(c, c + m * n));
  };
  return { core };
}

// ---------------------------------------------------------------------------
// The three forms on top of a core.
// ---------------------------------------------------------------------------

function makeGemm(kind: Gemm['kind'], core: Core): Gemm {
  return {
    kind,
    nn: (A, B, C, m, n, k, accumulate) => core(m, n, k, A, k, 1, B, C, accumulate),
    nt: (A, B, C, m, n, k, accumulate) => core(m, n, k, A, k, 1, transpose(B, n, k), C, accumulate),
    tn: (A, B, C, m, n, k, accumulate) => core(m, n, k, A, 1, m, B, C, accumulate),
  };
}

export const tsGemm: Gemm = makeGemm('ts', tsCore);

const loaded = loadWasmCore();
/** The WebAssembly kernels, when build/ (or dist/) has them and they instantiate. */
export const wasmGemm: Gemm | undefined = loaded.core && makeGemm('wasm', loaded.core);
/** Why wasmGemm is undefined, for diagnostics. */
export const wasmGemmProblem: string | undefined = loaded.problem;

/** The kernels the training passes use. */
export const gemm: Gemm = (process.env.SPARROW_TRAIN_GEMM !== 'ts' && wasmGemm) || tsGemm;
