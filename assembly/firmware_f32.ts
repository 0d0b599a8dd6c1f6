// ============================================================================
// sparrow f32 firmware: one S5-style step per call, reading the model blob the
// compiler linked into the data segment (layout in abi.ts, docs/firmware-abi.md).
//
// Built once with `--runtime stub --use abort=`: no allocator is ever called,
// nothing is imported, memory is fixed by the linker. Everything was validated
// at compile time, so step() only computes.
//
// Per step, cost is dominated by the mat-vecs (see matvec_f32.ts):
//   encoder: H·d_in, per layer: 2·P·H (B) + 2·H·P (C) [+ H·H gate], decoder: d_out·H
// multiply-adds, each times (1 − sparsity) for CSR matrices. With SMA, 2·H
// multiply-adds per layer decide first whether the gate runs at all.
// ============================================================================

import {
  FLAG_ENCODER_RELU, FLAG_GATE, FLAG_GELU, FLAG_SMA, HEADER,
  H_A, H_BV_IM, H_BV_RE, H_DECODER, H_DECODER_BIAS, H_D_IN, H_D_MODEL, H_D_OUT, H_D_STATE, H_ENCODER,
  H_ENCODER_BIAS, H_FLAGS, H_G, H_GOLDEN_INPUT, H_GOLDEN_OUTPUT, H_GOLDEN_STEPS, H_GOLDEN_TOL, H_INPUT,
  H_LAYERS, H_N_LAYERS, H_OUTPUT, H_STATE_END, H_STATE_START, H_TMP, H_U, H_V, H_Y,
  LAYER_BYTES, L_B_IM, L_B_RE, L_C_IM, L_C_RE, L_D, L_GATE_BIAS, L_GATE_W, L_LAMBDA_IM, L_LAMBDA_RE,
  L_NORM_SCALE, L_NORM_SHIFT, L_STATE_IM, L_STATE_RE, LAYER_BYTES_SMA, L_SMA_BIAS, L_SMA_W,
} from './abi';
import { matvecF32 } from './matvec_f32';
import { diagRecurrenceF32 } from './recurrence_f32';
import { geluF32, reluF32, sigmoidF32 } from './activations_f32';

@inline function hdr(field: usize): u32 {
  return load<u32>(HEADER + field);
}

@inline function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

// ---------------------------------------------------------------------------
// ABI
// ---------------------------------------------------------------------------

/** Zero all recurrent state and scratch; the model blob is untouched. */
export function reset(): void {
  const end = <usize>hdr(H_STATE_END);
  for (let p = <usize>hdr(H_STATE_START); p < end; p += 4) store<u32>(p, 0);
}

/** Call once after instantiation. Equivalent to reset(): memory starts zeroed, but a host may re-init. */
export function init(): void {
  reset();
}

export function input_ptr(): usize {
  return <usize>hdr(H_INPUT);
}

export function output_ptr(): usize {
  return <usize>hdr(H_OUTPUT);
}

export function input_len(): i32 {
  return <i32>hdr(H_D_IN);
}

export function output_len(): i32 {
  return <i32>hdr(H_D_OUT);
}

/** 0: the I/O buffers hold f32 (the integer engine returns 1). */
export function io_format(): i32 {
  return 0;
}

/** Read input_len() f32 from input_ptr(), advance the state, write output_len() f32 at output_ptr(). */
export function step(): void {
  const H = <i32>hdr(H_D_MODEL);
  const P = <i32>hdr(H_D_STATE);
  const flags = hdr(H_FLAGS);
  const u = <usize>hdr(H_U);
  const v = <usize>hdr(H_V);
  const y = <usize>hdr(H_Y);
  const tmp = <usize>hdr(H_TMP);
  const a = <usize>hdr(H_A);
  const g = <usize>hdr(H_G);
  const bvRe = <usize>hdr(H_BV_RE);
  const bvIm = <usize>hdr(H_BV_IM);

  // Encoder: u = encoder_act(W_enc x + b_enc).
  matvecF32(<usize>hdr(H_ENCODER), <usize>hdr(H_INPUT), u, false);
  const encBias = <usize>hdr(H_ENCODER_BIAS);
  const encRelu = (flags & FLAG_ENCODER_RELU) != 0;
  for (let h = 0; h < H; h++) {
    const x = load<f32>(at(u, h)) + load<f32>(at(encBias, h));
    store<f32>(at(u, h), encRelu ? reluF32(x) : x);
  }

  const gate = (flags & FLAG_GATE) != 0;
  const sma = (flags & FLAG_SMA) != 0; // implies gate (checked at compile time)
  const layerBytes = sma ? LAYER_BYTES_SMA : LAYER_BYTES;
  const nLayers = <i32>hdr(H_N_LAYERS);
  let L = <usize>hdr(H_LAYERS);
  for (let i = 0; i < nLayers; i++, L += layerBytes) {
    // v = scale ⊙ u + shift
    const scale = <usize>load<u32>(L + L_NORM_SCALE);
    const shift = <usize>load<u32>(L + L_NORM_SHIFT);
    for (let h = 0; h < H; h++) store<f32>(at(v, h), load<f32>(at(scale, h)) * load<f32>(at(u, h)) + load<f32>(at(shift, h)));

    // s = Λ ⊙ s + B v
    matvecF32(<usize>load<u32>(L + L_B_RE), v, bvRe, false);
    matvecF32(<usize>load<u32>(L + L_B_IM), v, bvIm, false);
    const sRe = <usize>load<u32>(L + L_STATE_RE);
    const sIm = <usize>load<u32>(L + L_STATE_IM);
    diagRecurrenceF32(<usize>load<u32>(L + L_LAMBDA_RE), <usize>load<u32>(L + L_LAMBDA_IM), sRe, sIm, bvRe, bvIm, P);

    // y = C_re s_re − C_im s_im + D ⊙ v ;  a = act(y)
    matvecF32(<usize>load<u32>(L + L_C_RE), sRe, y, false);
    matvecF32(<usize>load<u32>(L + L_C_IM), sIm, tmp, false);
    const D = <usize>load<u32>(L + L_D);
    const gelu = (flags & FLAG_GELU) != 0;
    for (let h = 0; h < H; h++) {
      const yh = load<f32>(at(y, h)) - load<f32>(at(tmp, h)) + load<f32>(at(D, h)) * load<f32>(at(v, h));
      store<f32>(at(y, h), yh);
      store<f32>(at(a, h), gelu ? geluF32(yh) : reluF32(yh));
    }

    // SMA: the gate runs iff l₁ + b₁ > l₀ + b₀ (ties: it does not), l = W_s y, decided before
    // any of the gate's work. tmp is free again and holds at least 2 floats in SMA models.
    let active = gate;
    if (sma) {
      matvecF32(<usize>load<u32>(L + L_SMA_W), y, tmp, false);
      const bs = <usize>load<u32>(L + L_SMA_BIAS);
      active = load<f32>(at(tmp, 1)) + load<f32>(at(bs, 1)) > load<f32>(at(tmp, 0)) + load<f32>(at(bs, 0));
    }

    // u += active ? a ⊙ σ(W_g a + b_g) : a
    if (active) {
      matvecF32(<usize>load<u32>(L + L_GATE_W), a, g, false);
      const gb = <usize>load<u32>(L + L_GATE_BIAS);
      for (let h = 0; h < H; h++) {
        store<f32>(at(u, h), load<f32>(at(u, h)) + load<f32>(at(a, h)) * sigmoidF32(load<f32>(at(g, h)) + load<f32>(at(gb, h))));
      }
    } else {
      for (let h = 0; h < H; h++) store<f32>(at(u, h), load<f32>(at(u, h)) + load<f32>(at(a, h)));
    }
  }

  // Decoder: o = W_dec u + b_dec.
  const out = <usize>hdr(H_OUTPUT);
  matvecF32(<usize>hdr(H_DECODER), u, out, false);
  const decBias = <usize>hdr(H_DECODER_BIAS);
  const dOut = <i32>hdr(H_D_OUT);
  for (let j = 0; j < dOut; j++) store<f32>(at(out, j), load<f32>(at(out, j)) + load<f32>(at(decBias, j)));
}

/**
 * Replay the golden input steps embedded at compile time (computed by the host's
 * float64 reference), count output elements with |out − ref| > tol·(1 + |ref|)
 * (NaN counts as a miss), reset the state and return the count: 0 = pass.
 * Overwrites the input and output buffers.
 */
export function selftest(): i32 {
  reset();
  const steps = <i32>hdr(H_GOLDEN_STEPS);
  const dIn = <i32>hdr(H_D_IN);
  const dOut = <i32>hdr(H_D_OUT);
  const tol = load<f32>(HEADER + H_GOLDEN_TOL);
  const input = <usize>hdr(H_INPUT);
  const output = <usize>hdr(H_OUTPUT);
  let goldIn = <usize>hdr(H_GOLDEN_INPUT);
  let goldOut = <usize>hdr(H_GOLDEN_OUTPUT);
  let misses = 0;
  for (let t = 0; t < steps; t++) {
    for (let j = 0; j < dIn; j++) store<f32>(at(input, j), load<f32>(at(goldIn, j)));
    step();
    for (let j = 0; j < dOut; j++) {
      const ref = load<f32>(at(goldOut, j));
      const diff = Mathf.abs(load<f32>(at(output, j)) - ref);
      if (!(diff <= tol * (<f32>1 + Mathf.abs(ref)))) misses++;
    }
    goldIn = at(goldIn, dIn);
    goldOut = at(goldOut, dOut);
  }
  reset();
  return misses;
}
