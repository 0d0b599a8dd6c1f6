// ============================================================================
// Import continuous-time S5 parameters and discretize them with zero-order hold.
//
// Names follow the public S5 code (lindermanlab/S5, s5/ssm.py: Lambda_re,
// Lambda_im, B [P,H,2], C [H,P,2], D, log_step), flattened per layer as
// `layers.i.<name>` (docs/import.md). Per state p, with Δ = exp(log_step):
//   Λ̄ = exp(Λ Δ)                    = e^{Re Λ·Δ} (cos(Im Λ·Δ) + i sin(Im Λ·Δ))
//   B̄ = ((Λ̄ − 1) / Λ) ⊙ B            (row p of B scaled by the complex γ_p)
// With conjugate symmetry (S5's conj_sym) the model keeps P/2 states and its
// output is 2·Re(C s): the factor 2 is folded into C here.
// ============================================================================

import * as fs from 'fs';
import * as path from 'path';
import { inputError, SparrowError } from '../util/errors';
import { parseNpz } from './npz';
import { parseSafetensors } from './safetensors';
import { DenseMatrix, LayerWeights, Model, ModelConfig } from './types';

/** A named array from either container. */
export interface ImportTensor {
  shape: number[];
  data: ArrayLike<number | bigint>;
}

export interface ImportOptions {
  act: ModelConfig['act'];
  encoderAct: ModelConfig['encoder_act'];
  /** The checkpoint keeps P/2 conjugate-symmetric states: output 2·Re(C s). */
  conjSym: boolean;
  /** BatchNorm epsilon when folding running statistics (default 1e-5). */
  bnEps?: number;
}

export function readImportFile(file: string): Map<string, ImportTensor> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    throw new SparrowError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const ext = path.extname(file).toLowerCase();
  if (ext === '.npz') return parseNpz(bytes, file);
  if (ext === '.safetensors') return parseSafetensors(bytes, file).tensors;
  throw inputError(file, undefined, `unknown checkpoint format "${ext}" (use .npz or .safetensors)`);
}

// ---------------------------------------------------------------------------
// Tensor access with one-line errors
// ---------------------------------------------------------------------------

function getter(tensors: Map<string, ImportTensor>, file: string) {
  const values = (name: string, shape: number[]): Float64Array => {
    const t = tensors.get(name);
    if (!t) throw inputError(file, name, 'missing tensor');
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw inputError(file, name, `shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    const out = new Float64Array(t.data.length);
    for (let i = 0; i < out.length; i++) {
      const v = Number(t.data[i]);
      if (!Number.isFinite(v)) throw inputError(file, name, `non-finite value at element ${i}`);
      out[i] = v;
    }
    return out;
  };
  const shapeOf = (name: string): number[] | undefined => tensors.get(name)?.shape;
  return { values, shapeOf, has: (name: string) => tensors.has(name) };
}

const dense = (rows: number, cols: number, v: ArrayLike<number>): DenseMatrix => ({ kind: 'dense', rows, cols, values: Float32Array.from(v) });

/** A complex matrix given as `<name>` [rows, cols, 2] or as `<name>_re` / `<name>_im` [rows, cols]. */
function complexMatrix(g: ReturnType<typeof getter>, name: string, rows: number, cols: number): { re: Float64Array; im: Float64Array } {
  if (g.has(name)) {
    const v = g.values(name, [rows, cols, 2]);
    const re = new Float64Array(rows * cols);
    const im = new Float64Array(rows * cols);
    for (let i = 0; i < rows * cols; i++) {
      re[i] = v[2 * i];
      im[i] = v[2 * i + 1];
    }
    return { re, im };
  }
  return { re: g.values(`${name}_re`, [rows, cols]), im: g.values(`${name}_im`, [rows, cols]) };
}

// ---------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------

export function importS5(tensors: Map<string, ImportTensor>, file: string, opts: ImportOptions): Model {
  const g = getter(tensors, file);
  const encShape = g.shapeOf('encoder.weight');
  const decShape = g.shapeOf('decoder.weight');
  if (!encShape || encShape.length !== 2) throw inputError(file, 'encoder.weight', encShape ? `shape [${encShape.join(', ')}], expected [H, d_in]` : 'missing tensor');
  if (!decShape || decShape.length !== 2) throw inputError(file, 'decoder.weight', decShape ? `shape [${decShape.join(', ')}], expected [d_out, H]` : 'missing tensor');
  const [H, d_in] = encShape;
  const d_out = decShape[0];
  let n_layers = 0;
  while (g.has(`layers.${n_layers}.Lambda_re`)) n_layers++;
  if (n_layers === 0) throw inputError(file, 'layers.0.Lambda_re', 'missing tensor (no S5 layers found)');
  const P = g.shapeOf('layers.0.Lambda_re')![0];
  const gate = g.has('layers.0.gate.weight');
  // SMA (Sparse Modular Activation): two logits of y decide per step whether the gate runs.
  const sma = g.has('layers.0.sma.weight');
  if (sma && !gate) throw inputError(file, 'layers.0.sma.weight', 'SMA decides whether the gate runs, and the checkpoint has no layers.0.gate.weight');
  const eps = opts.bnEps ?? 1e-5;
  const cScale = opts.conjSym ? 2 : 1;

  const layers: LayerWeights[] = [];
  for (let i = 0; i < n_layers; i++) {
    const p = `layers.${i}.`;
    const lre = g.values(p + 'Lambda_re', [P]);
    const lim = g.values(p + 'Lambda_im', [P]);
    const stepShape = g.shapeOf(p + 'log_step');
    const logStep = g.values(p + 'log_step', stepShape && stepShape.length === 2 ? [P, 1] : [P]);
    const B = complexMatrix(g, p + 'B', P, H);
    const C = complexMatrix(g, p + 'C', H, P);

    const lambdaRe = new Float64Array(P);
    const lambdaIm = new Float64Array(P);
    const bRe = new Float64Array(P * H);
    const bIm = new Float64Array(P * H);
    for (let s = 0; s < P; s++) {
      if (!(lre[s] < 0)) throw inputError(file, `${p}Lambda_re`, `state ${s} has Re(Λ) = ${lre[s]} ≥ 0: an unstable continuous-time pole`);
      const dt = Math.exp(logStep[s]);
      // Λ̄ = exp(ΛΔ)
      const mag = Math.exp(lre[s] * dt);
      const barRe = mag * Math.cos(lim[s] * dt);
      const barIm = mag * Math.sin(lim[s] * dt);
      lambdaRe[s] = barRe;
      lambdaIm[s] = barIm;
      // γ = (Λ̄ − 1)/Λ = (Λ̄ − 1)·conj(Λ)/|Λ|²
      const nr = barRe - 1;
      const ni = barIm;
      const den = lre[s] * lre[s] + lim[s] * lim[s];
      const gRe = (nr * lre[s] + ni * lim[s]) / den;
      const gIm = (ni * lre[s] - nr * lim[s]) / den;
      for (let h = 0; h < H; h++) {
        const k = s * H + h;
        bRe[k] = gRe * B.re[k] - gIm * B.im[k];
        bIm[k] = gRe * B.im[k] + gIm * B.re[k];
      }
    }

    let normScale: Float64Array;
    let normShift: Float64Array;
    if (g.has(p + 'norm.scale')) {
      normScale = g.values(p + 'norm.scale', [H]);
      normShift = g.values(p + 'norm.shift', [H]);
    } else if (g.has(p + 'norm.mean')) {
      // Inference-mode BatchNorm: (u − mean)/√(var + ε)·weight + bias = scale·u + shift.
      const mean = g.values(p + 'norm.mean', [H]);
      const variance = g.values(p + 'norm.var', [H]);
      const weight = g.values(p + 'norm.weight', [H]);
      const bias = g.values(p + 'norm.bias', [H]);
      normScale = new Float64Array(H);
      normShift = new Float64Array(H);
      for (let h = 0; h < H; h++) {
        if (!(variance[h] + eps > 0)) throw inputError(file, `${p}norm.var`, `channel ${h}: var + eps must be positive`);
        normScale[h] = weight[h] / Math.sqrt(variance[h] + eps);
        normShift[h] = bias[h] - mean[h] * normScale[h];
      }
    } else {
      normScale = new Float64Array(H).fill(1); // no norm in the checkpoint: identity
      normShift = new Float64Array(H);
    }

    const layer: LayerWeights = {
      normScale: Float32Array.from(normScale),
      normShift: Float32Array.from(normShift),
      lambdaRe: Float32Array.from(lambdaRe),
      lambdaIm: Float32Array.from(lambdaIm),
      B_re: dense(P, H, bRe),
      B_im: dense(P, H, bIm),
      C_re: dense(H, P, C.re.map((v) => cScale * v)),
      C_im: dense(H, P, C.im.map((v) => cScale * v)),
      D: Float32Array.from(g.values(p + 'D', [H])),
    };
    if (gate) {
      layer.gateWeight = dense(H, H, g.values(p + 'gate.weight', [H, H]));
      layer.gateBias = Float32Array.from(g.values(p + 'gate.bias', [H]));
    }
    if (sma) {
      layer.smaWeight = dense(2, H, g.values(p + 'sma.weight', [2, H]));
      layer.smaBias = Float32Array.from(g.values(p + 'sma.bias', [2]));
    }
    layers.push(layer);
  }

  return {
    config: { d_in, d_model: H, d_state: P, d_out, n_layers, act: opts.act, encoder_act: opts.encoderAct, gate, ...(sma ? { sma: true } : {}) },
    encoderWeight: dense(H, d_in, g.values('encoder.weight', [H, d_in])),
    encoderBias: Float32Array.from(g.values('encoder.bias', [H])),
    layers,
    decoderWeight: dense(d_out, H, g.values('decoder.weight', [d_out, H])),
    decoderBias: Float32Array.from(g.values('decoder.bias', [d_out])),
    metadata: { source: 'import-s5', discretization: 'zoh', conj_sym: String(opts.conjSym) },
  };
}
