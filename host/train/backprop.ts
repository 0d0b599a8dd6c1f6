// ============================================================================
// Forward and backward passes of a batch of sequences through the model in
// training form (params.ts): BatchNorm with batch statistics, the complex
// diagonal recurrence run as a scan, gradients by hand (reverse scan through
// time, then the zero-order hold's chain rule into Λ, Δ and B). float64
// throughout; tests/train/backprop.test.ts checks every gradient against
// central finite differences.
//
// Masks: the forward pass uses W ⊙ M; the backward pass hands the gradient of
// W ⊙ M to W unmasked (straight-through), so a pruned weight can come back
// when the masks are recomputed.
//
// Cost per sequence: forward ≈ T·L·(4PH + H² [gate]) + T·H·(d_in + d_out)
// multiply-adds, backward ≈ 2× that; memory per sequence ≈ T·L·(2P + 3H)
// doubles for the tape.
// ============================================================================

import { BN_EPS, BN_MOMENTUM, Discrete, discretize, Masks, TrainParams, zerosLike } from './params';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

function geluGrad(x: number): number {
  const inner = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
  const th = Math.tanh(inner);
  return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
}

function masked(w: Float64Array, m?: Uint8Array): Float64Array {
  return m ? Float64Array.from(w, (x, i) => (m[i] ? x : 0)) : w;
}

interface LayerEff {
  d: Discrete;
  /** B's mask: a pruned B̄ entry is 0 whatever Λ and Δ are, so it adds nothing to their gradient. */
  bMask?: Uint8Array;
  Cre: Float64Array;
  Cim: Float64Array;
  gateW?: Float64Array;
}

interface Effective {
  encW: Float64Array;
  decW: Float64Array;
  layers: LayerEff[];
}

function effective(p: TrainParams, masks: Masks): Effective {
  const H = p.config.d_model;
  return {
    encW: masked(p.encW, masks.get('encoder.weight')),
    decW: masked(p.decW, masks.get('decoder.weight')),
    layers: p.layers.map((L, i) => ({
      d: discretize(L, H, masks.get(`layers.${i}.ssm.B`)),
      bMask: masks.get(`layers.${i}.ssm.B`),
      Cre: masked(L.Cre, masks.get(`layers.${i}.ssm.C`)),
      Cim: masked(L.Cim, masks.get(`layers.${i}.ssm.C`)),
      ...(L.gateW ? { gateW: masked(L.gateW, masks.get(`layers.${i}.gate.weight`)) } : {}),
    })),
  };
}

interface LayerTape {
  mean: Float64Array;
  invStd: Float64Array;
  /** Per sequence: normalised input x̂ [T, H], states [T, P], pre-activation y [T, H], gate σ [T, H]. */
  xhat: Float64Array[];
  sRe: Float64Array[];
  sIm: Float64Array[];
  y: Float64Array[];
  sig: Float64Array[];
}

export interface Tape {
  T: number;
  eff: Effective;
  inputs: Float32Array[];
  /** Encoder pre-activation [T, H] (for the ReLU's gradient). */
  encPre: Float64Array[];
  layers: LayerTape[];
  /** Residual stream after the last layer [T, H]. */
  uLast: Float64Array[];
}

/**
 * Forward pass of N sequences of length T ([T, d_in] each). With `updateStats` the BatchNorm
 * running statistics move toward this batch's (training); the batch statistics are used
 * either way, as in training mode.
 */
export function forwardBatch(p: TrainParams, masks: Masks, inputs: Float32Array[], T: number, updateStats = true): { outputs: Float64Array[]; tape: Tape } {
  const { d_in, d_model: H, d_state: P, d_out, gate, act, encoder_act } = p.config;
  const eff = effective(p, masks);
  const N = inputs.length;
  const us: Float64Array[] = [];
  const encPre: Float64Array[] = [];
  for (const x of inputs) {
    const pre = new Float64Array(T * H);
    const u = new Float64Array(T * H);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        let acc = p.encB[h];
        const w = h * d_in;
        for (let j = 0; j < d_in; j++) acc += eff.encW[w + j] * x[t * d_in + j];
        pre[t * H + h] = acc;
        u[t * H + h] = encoder_act === 'relu' && acc < 0 ? 0 : acc;
      }
    }
    encPre.push(pre);
    us.push(u);
  }
  const layers: LayerTape[] = [];
  const v = new Float64Array(H);
  const bvRe = new Float64Array(P);
  const bvIm = new Float64Array(P);
  p.layers.forEach((L, l) => {
    const E = eff.layers[l];
    // BatchNorm statistics over every step of every sequence.
    const mean = new Float64Array(H);
    const varr = new Float64Array(H);
    for (const u of us) for (let i = 0; i < T * H; i++) mean[i % H] += u[i];
    for (let h = 0; h < H; h++) mean[h] /= N * T;
    for (const u of us) for (let i = 0; i < T * H; i++) { const dlt = u[i] - mean[i % H]; varr[i % H] += dlt * dlt; }
    for (let h = 0; h < H; h++) varr[h] /= N * T;
    const invStd = Float64Array.from(varr, (s) => 1 / Math.sqrt(s + BN_EPS));
    if (updateStats) {
      const unbiased = N * T > 1 ? (N * T) / (N * T - 1) : 1;
      for (let h = 0; h < H; h++) {
        L.runMean[h] = (1 - BN_MOMENTUM) * L.runMean[h] + BN_MOMENTUM * mean[h];
        L.runVar[h] = (1 - BN_MOMENTUM) * L.runVar[h] + BN_MOMENTUM * varr[h] * unbiased;
      }
    }
    const tape: LayerTape = { mean, invStd, xhat: [], sRe: [], sIm: [], y: [], sig: [] };
    for (const u of us) {
      const xhat = new Float64Array(T * H);
      const sRe = new Float64Array(T * P);
      const sIm = new Float64Array(T * P);
      const y = new Float64Array(T * H);
      const sig = gate ? new Float64Array(T * H) : new Float64Array(0);
      const a = new Float64Array(H);
      for (let t = 0; t < T; t++) {
        const o = t * H;
        for (let h = 0; h < H; h++) {
          const xh = (u[o + h] - mean[h]) * invStd[h];
          xhat[o + h] = xh;
          v[h] = L.gamma[h] * xh + L.beta[h];
        }
        // bv = B̄ v
        for (let q = 0; q < P; q++) {
          let re = 0;
          let im = 0;
          const r = q * H;
          for (let h = 0; h < H; h++) { re += E.d.bbRe[r + h] * v[h]; im += E.d.bbIm[r + h] * v[h]; }
          bvRe[q] = re;
          bvIm[q] = im;
        }
        // s_t = Λ̄ s_{t−1} + bv
        const so = t * P;
        for (let q = 0; q < P; q++) {
          const pr = t > 0 ? sRe[so - P + q] : 0;
          const pi = t > 0 ? sIm[so - P + q] : 0;
          sRe[so + q] = E.d.lbRe[q] * pr - E.d.lbIm[q] * pi + bvRe[q];
          sIm[so + q] = E.d.lbRe[q] * pi + E.d.lbIm[q] * pr + bvIm[q];
        }
        // y = Re(C s) + D v; a = act(y)
        for (let h = 0; h < H; h++) {
          let acc = L.D[h] * v[h];
          const r = h * P;
          for (let q = 0; q < P; q++) acc += E.Cre[r + q] * sRe[so + q] - E.Cim[r + q] * sIm[so + q];
          y[o + h] = acc;
          a[h] = act === 'gelu' ? gelu(acc) : acc > 0 ? acc : 0;
        }
        // z = gate ? a ⊙ σ(W_g a + b_g) : a; u += z
        for (let h = 0; h < H; h++) {
          if (gate) {
            let g = L.gateB![h];
            const r = h * H;
            for (let k = 0; k < H; k++) g += E.gateW![r + k] * a[k];
            const s = 1 / (1 + Math.exp(-g));
            sig[o + h] = s;
            u[o + h] += a[h] * s;
          } else {
            u[o + h] += a[h];
          }
        }
      }
      tape.xhat.push(xhat);
      tape.sRe.push(sRe);
      tape.sIm.push(sIm);
      tape.y.push(y);
      tape.sig.push(sig);
    }
    layers.push(tape);
  });
  const outputs = us.map((u) => {
    const out = new Float64Array(T * d_out);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < d_out; j++) {
        let acc = p.decB[j];
        const r = j * H;
        for (let h = 0; h < H; h++) acc += eff.decW[r + h] * u[t * H + h];
        out[t * d_out + j] = acc;
      }
    }
    return out;
  });
  return { outputs, tape: { T, eff, inputs, encPre, layers, uLast: us } };
}

/** Gradients of Σ_n ⟨gradOutputs[n], outputs[n]⟩ with respect to every trainable parameter. */
export function backwardBatch(p: TrainParams, tape: Tape, gradOutputs: ArrayLike<number>[]): TrainParams {
  const { d_in, d_model: H, d_state: P, d_out, gate, act, encoder_act } = p.config;
  const { T, eff } = tape;
  const N = gradOutputs.length;
  const g = zerosLike(p);
  // Decoder.
  const gus = gradOutputs.map((go, n) => {
    const u = tape.uLast[n];
    const gu = new Float64Array(T * H);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < d_out; j++) {
        const gj = go[t * d_out + j];
        if (gj === 0) continue;
        g.decB[j] += gj;
        const r = j * H;
        for (let h = 0; h < H; h++) {
          g.decW[r + h] += gj * u[t * H + h];
          gu[t * H + h] += gj * eff.decW[r + h];
        }
      }
    }
    return gu;
  });

  const a = new Float64Array(H);
  const ga = new Float64Array(H);
  const gy = new Float64Array(H);
  const v = new Float64Array(H);
  const gsR = new Float64Array(P);
  const gsI = new Float64Array(P);
  for (let l = p.layers.length - 1; l >= 0; l--) {
    const L = p.layers[l];
    const G = g.layers[l];
    const E = eff.layers[l];
    const tp = tape.layers[l];
    const dbbRe = new Float64Array(P * H);
    const dbbIm = new Float64Array(P * H);
    const dlbRe = new Float64Array(P);
    const dlbIm = new Float64Array(P);
    // Gradient at v for every sequence, then BatchNorm's batch-coupled backward.
    const gvs: Float64Array[] = [];
    for (let n = 0; n < N; n++) {
      const gu = gus[n];
      const xhat = tp.xhat[n];
      const sRe = tp.sRe[n];
      const sIm = tp.sIm[n];
      const y = tp.y[n];
      const sig = tp.sig[n];
      const gv = new Float64Array(T * H);
      gsR.fill(0);
      gsI.fill(0);
      for (let t = T - 1; t >= 0; t--) {
        const o = t * H;
        const so = t * P;
        for (let h = 0; h < H; h++) {
          v[h] = L.gamma[h] * xhat[o + h] + L.beta[h];
          a[h] = act === 'gelu' ? gelu(y[o + h]) : y[o + h] > 0 ? y[o + h] : 0;
        }
        // z = a ⊙ σ(g): ga = gz ⊙ σ + W_gᵀ (gz ⊙ a ⊙ σ(1 − σ))
        if (gate) {
          for (let h = 0; h < H; h++) ga[h] = gu[o + h] * sig[o + h];
          for (let h = 0; h < H; h++) {
            const s = sig[o + h];
            const gg = gu[o + h] * a[h] * s * (1 - s);
            if (gg === 0) continue;
            G.gateB![h] += gg;
            const r = h * H;
            for (let k = 0; k < H; k++) {
              G.gateW![r + k] += gg * a[k];
              ga[k] += gg * E.gateW![r + k];
            }
          }
        } else {
          for (let h = 0; h < H; h++) ga[h] = gu[o + h];
        }
        for (let h = 0; h < H; h++) {
          const yh = y[o + h];
          gy[h] = ga[h] * (act === 'gelu' ? geluGrad(yh) : yh > 0 ? 1 : 0);
          G.D[h] += gy[h] * v[h];
          gv[o + h] = L.D[h] * gy[h];
        }
        // y = C_re s_re − C_im s_im: gradients of C, and of s directly.
        for (let q = 0; q < P; q++) {
          let dr = 0;
          let di = 0;
          for (let h = 0; h < H; h++) {
            dr += E.Cre[h * P + q] * gy[h];
            di -= E.Cim[h * P + q] * gy[h];
          }
          // Reverse scan: gs_t = direct + Λ̄ᴴ-style carry from t+1 (gsR/gsI hold gs_{t+1}).
          const lr = E.d.lbRe[q];
          const li = E.d.lbIm[q];
          const nr = dr + lr * gsR[q] + li * gsI[q];
          const ni = di - li * gsR[q] + lr * gsI[q];
          gsR[q] = nr;
          gsI[q] = ni;
          if (t > 0) {
            const pr = sRe[so - P + q];
            const pi = sIm[so - P + q];
            dlbRe[q] += nr * pr + ni * pi;
            dlbIm[q] += -nr * pi + ni * pr;
          }
        }
        for (let h = 0; h < H; h++) {
          const gyh = gy[h];
          if (gyh === 0) continue;
          const r = h * P;
          for (let q = 0; q < P; q++) {
            G.Cre[r + q] += gyh * sRe[so + q];
            G.Cim[r + q] -= gyh * sIm[so + q];
          }
        }
        // bv_t = B̄ v_t with gradient gs_t.
        for (let q = 0; q < P; q++) {
          const r = q * H;
          const gr = gsR[q];
          const gi = gsI[q];
          for (let h = 0; h < H; h++) {
            dbbRe[r + h] += gr * v[h];
            dbbIm[r + h] += gi * v[h];
            gv[o + h] += E.d.bbRe[r + h] * gr + E.d.bbIm[r + h] * gi;
          }
        }
      }
      gvs.push(gv);
    }
    // BatchNorm: v = γ x̂ + β, x̂ = (x − μ)·invStd with batch statistics.
    const sumG = new Float64Array(H);
    const sumGX = new Float64Array(H);
    for (let n = 0; n < N; n++) {
      const gv = gvs[n];
      const xhat = tp.xhat[n];
      for (let i = 0; i < T * H; i++) {
        const h = i % H;
        G.beta[h] += gv[i];
        G.gamma[h] += gv[i] * xhat[i];
        const gx = gv[i] * L.gamma[h];
        sumG[h] += gx;
        sumGX[h] += gx * xhat[i];
      }
    }
    const M = N * T;
    for (let n = 0; n < N; n++) {
      const gv = gvs[n];
      const xhat = tp.xhat[n];
      const gu = gus[n];
      for (let i = 0; i < T * H; i++) {
        const h = i % H;
        const gx = gv[i] * L.gamma[h];
        gu[i] += tp.invStd[h] * (gx - sumG[h] / M - (xhat[i] * sumGX[h]) / M);
      }
    }
    chainZoh(L, E.d, E.bMask, dlbRe, dlbIm, dbbRe, dbbIm, G, H);
  }
  // Encoder.
  for (let n = 0; n < N; n++) {
    const gu = gus[n];
    const pre = tape.encPre[n];
    const x = tape.inputs[n];
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        let gh = gu[t * H + h];
        if (encoder_act === 'relu' && pre[t * H + h] < 0) gh = 0;
        if (gh === 0) continue;
        g.encB[h] += gh;
        for (let j = 0; j < d_in; j++) g.encW[h * d_in + j] += gh * x[t * d_in + j];
      }
    }
  }
  return g;
}

/**
 * Gradients of Λ̄ and B̄ into the continuous parameters. With complex gradients
 * G = ∂L/∂Re + i ∂L/∂Im, a holomorphic f gives G_w = conj(f′(w)) · G_f:
 *   B̄ = c·B           G_B = conj(c)·G_B̄,     G_c = Σ_h conj(B)·G_B̄
 *   c = (E − 1)/Λ      G_E += conj(1/Λ)·G_c,  G_Λ += conj(−(E − 1)/Λ²)·G_c
 *   E = exp(ΛΔ)        G_Λ += conj(Δ·E)·G_E,  g_Δ = Re(conj(Λ·E)·G_E)
 *   Re Λ = −exp(ρ), Δ = exp(logΔ).
 */
function chainZoh(L: TrainParams['layers'][number], d: Discrete, bMask: Uint8Array | undefined, dlbRe: Float64Array, dlbIm: Float64Array, dbbRe: Float64Array, dbbIm: Float64Array, G: TrainParams['layers'][number], H: number): void {
  const P = L.lamRho.length;
  // conj(a)·b for complex a, b
  const cmulConj = (ar: number, ai: number, br: number, bi: number): [number, number] => [ar * br + ai * bi, ar * bi - ai * br];
  for (let p = 0; p < P; p++) {
    const lr = -Math.exp(L.lamRho[p]);
    const li = L.lamIm[p];
    const dt = Math.exp(L.logDt[p]);
    const cr = d.cRe[p];
    const ci = d.cIm[p];
    let gcR = 0;
    let gcI = 0;
    for (let h = 0; h < H; h++) {
      const k = p * H + h;
      const [gbr, gbi] = cmulConj(cr, ci, dbbRe[k], dbbIm[k]);
      G.Bre[k] += gbr;
      G.Bim[k] += gbi;
      if (bMask && !bMask[k]) continue;
      const [r2, i2] = cmulConj(L.Bre[k], L.Bim[k], dbbRe[k], dbbIm[k]);
      gcR += r2;
      gcI += i2;
    }
    const er = d.lbRe[p];
    const ei = d.lbIm[p];
    const den = lr * lr + li * li;
    // 1/Λ
    const invR = lr / den;
    const invI = -li / den;
    let [gER, gEI] = cmulConj(invR, invI, gcR, gcI);
    gER += dlbRe[p];
    gEI += dlbIm[p];
    // −(E − 1)/Λ² = −c/Λ
    const qR = -(cr * invR - ci * invI);
    const qI = -(cr * invI + ci * invR);
    let [gLR, gLI] = cmulConj(qR, qI, gcR, gcI);
    const [a1, a2] = cmulConj(dt * er, dt * ei, gER, gEI);
    gLR += a1;
    gLI += a2;
    // Λ·E
    const leR = lr * er - li * ei;
    const leI = lr * ei + li * er;
    const gDt = leR * gER + leI * gEI;
    G.logDt[p] += gDt * dt;
    G.lamRho[p] += gLR * lr; // ∂ReΛ/∂ρ = −exp(ρ) = ReΛ
    G.lamIm[p] += gLI;
  }
}
