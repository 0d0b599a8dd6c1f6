// ============================================================================
// sparrow integer (w8a16) firmware: bit-exact with host/reference/int.ts.
// int16 input and output buffers; no floating-point instruction anywhere in
// step() (a test scans the binary). Built like the f32 engine: stub runtime,
// no imports, memory fixed by the linker, everything validated at compile time.
//
// Cost per step: one int8×int16 MAC per stored weight (matvec_i8.ts), 4 MACs
// per complex state, and per layer H table lookups (GELU) [+ H for the gate].
// With SMA, H MACs per layer decide first whether the gate (its mat-vec, H
// sigmoid lookups and H products) runs at all this step.
// ============================================================================

import {
  FLAG_ENCODER_RELU, FLAG_GATE, FLAG_GELU, FLAG_SMA, HEADER,
  H_A, H_ACC_IM, H_ACC_RE, H_DECODER, H_DECODER_BIAS, H_DECODER_SHIFT, H_D_IN, H_D_MODEL, H_D_OUT, H_D_STATE,
  H_ENCODER, H_ENCODER_BIAS, H_ENCODER_SHIFT, H_FLAGS, H_GOLDEN_INPUT, H_GOLDEN_OUTPUT, H_GOLDEN_STEPS, H_INPUT,
  H_INPUT_FRAC, H_LAYERS, H_N_LAYERS, H_OUTPUT, H_OUTPUT_FRAC, H_STATE_END, H_STATE_START, H_U, H_V, H_Y, H_Z,
  LAYER_BYTES, L_ACT_LUT, L_B_IM, L_B_RE, L_B_SHIFT, L_C_IM, L_C_RE, L_C_SHIFT, L_D, L_D_K, L_GATE_BIAS, L_GATE_SHIFT,
  L_GATE_W, L_LAMBDA_IM, L_LAMBDA_RE, L_NORM_K, L_NORM_SCALE, L_NORM_SHIFT, L_SIGMOID_LUT, L_STATE_IM, L_STATE_RE,
  L_U_K, L_Z_K, H_COUNTERS, LAYER_BYTES_SMA, L_SMA_BIAS, L_SMA_W,
} from './abi_i16';
import { matvecI8 } from './matvec_i8';
import { count } from './profile';
import {
  C_BRANCH, C_LOAD_PARAM, C_LOAD_STATE, C_LUT, C_MAC_ELEMENTWISE, C_SMA_ACTIVE, C_SMA_SKIPPED, C_STEPS,
} from './abi_i16';
export { sparrow_unrolled } from './matvec_i8';
import { lut, rshift, sat16 } from './fixedpoint';

@inline function hdr(field: usize): u32 {
  return load<u32>(HEADER + field);
}
@inline function ptr(base: usize, field: usize): usize {
  return <usize>load<u32>(base + field);
}
@inline function i16At(base: usize, i: i32): i32 {
  return <i32>load<i16>(base + (<usize>i << 1));
}
@inline function setI16(base: usize, i: i32, v: i32): void {
  store<i16>(base + (<usize>i << 1), <i16>v);
}
@inline function i32At(base: usize, i: i32): i32 {
  return load<i32>(base + (<usize>i << 2));
}
@inline function i8At(base: usize, i: i32): i32 {
  return <i32>load<i8>(base + <usize>i);
}

// ---------------------------------------------------------------------------
// ABI
// ---------------------------------------------------------------------------

export function reset(): void {
  const end = <usize>hdr(H_STATE_END);
  for (let p = <usize>hdr(H_STATE_START); p < end; p += 4) store<u32>(p, 0);
}

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

/** 1: the I/O buffers hold int16 (the f32 engine returns 0). */
export function io_format(): i32 {
  return 1;
}

/** Fractional bits of the input: x_q = sat16(round(x · 2^input_frac)). */
export function input_frac(): i32 {
  return <i32>hdr(H_INPUT_FRAC);
}

/** Fractional bits of the output: o = o_q · 2^(−output_frac). */
export function output_frac(): i32 {
  return <i32>hdr(H_OUTPUT_FRAC);
}

export function step(): void {
  const H = <i32>hdr(H_D_MODEL);
  const P = <i32>hdr(H_D_STATE);
  const flags = hdr(H_FLAGS);
  const u = <usize>hdr(H_U);
  const v = <usize>hdr(H_V);
  const y = <usize>hdr(H_Y);
  const a = <usize>hdr(H_A);
  const z = <usize>hdr(H_Z);
  const accRe = <usize>hdr(H_ACC_RE);
  const accIm = <usize>hdr(H_ACC_IM);

  // Encoder: u = sat16(rshift(W x + b, k_h)), optionally relu.
  matvecI8(<usize>hdr(H_ENCODER), <usize>hdr(H_INPUT), accRe);
  const encBias = <usize>hdr(H_ENCODER_BIAS);
  const encShift = <usize>hdr(H_ENCODER_SHIFT);
  const encRelu = (flags & FLAG_ENCODER_RELU) != 0;
  count(C_STEPS, 1);
  count(C_LOAD_PARAM, 2 * H);
  count(C_BRANCH, H);
  for (let h = 0; h < H; h++) {
    let q = sat16(rshift(<i64>i32At(accRe, h) + <i64>i32At(encBias, h), i8At(encShift, h)));
    if (encRelu && q < 0) q = 0;
    setI16(u, h, q);
  }

  const gelu = (flags & FLAG_GELU) != 0;
  const gate = (flags & FLAG_GATE) != 0;
  const sma = (flags & FLAG_SMA) != 0; // implies gate (checked at compile time)
  const layerBytes = sma ? LAYER_BYTES_SMA : LAYER_BYTES;
  const nLayers = <i32>hdr(H_N_LAYERS);
  let L = <usize>hdr(H_LAYERS);
  for (let i = 0; i < nLayers; i++, L += layerBytes) {
    // v = sat16(rshift(scale·u + shift, k))
    const scale = ptr(L, L_NORM_SCALE);
    const shift = ptr(L, L_NORM_SHIFT);
    const normK = load<i32>(L + L_NORM_K);
    count(C_MAC_ELEMENTWISE, H);
    count(C_LOAD_PARAM, 2 * H);
    count(C_BRANCH, H);
    for (let h = 0; h < H; h++) {
      setI16(v, h, sat16(rshift(<i64>i16At(scale, h) * <i64>i16At(u, h) + <i64>i32At(shift, h), normK)));
    }

    // s = sat16(rshift(Λ ⊙ s, 15) + rshift(B v, k_p))
    matvecI8(ptr(L, L_B_RE), v, accRe);
    matvecI8(ptr(L, L_B_IM), v, accIm);
    const lre = ptr(L, L_LAMBDA_RE);
    const lim = ptr(L, L_LAMBDA_IM);
    const sRe = ptr(L, L_STATE_RE);
    const sIm = ptr(L, L_STATE_IM);
    const bShift = ptr(L, L_B_SHIFT);
    count(C_MAC_ELEMENTWISE, 4 * P);
    count(C_LOAD_STATE, 2 * P);
    count(C_LOAD_PARAM, 3 * P);
    count(C_BRANCH, P);
    for (let p = 0; p < P; p++) {
      const lr = <i64>i16At(lre, p);
      const li = <i64>i16At(lim, p);
      const sr = <i64>i16At(sRe, p);
      const si = <i64>i16At(sIm, p);
      const k = i8At(bShift, p);
      setI16(sRe, p, sat16(rshift(lr * sr - li * si, 15) + rshift(<i64>i32At(accRe, p), k)));
      setI16(sIm, p, sat16(rshift(lr * si + li * sr, 15) + rshift(<i64>i32At(accIm, p), k)));
    }

    // y = sat16(rshift(C_re s_re − C_im s_im, k_h) + rshift(D·v, kD)); a = act(y)
    matvecI8(ptr(L, L_C_RE), sRe, accRe);
    matvecI8(ptr(L, L_C_IM), sIm, accIm);
    const cShift = ptr(L, L_C_SHIFT);
    const D = ptr(L, L_D);
    const dK = load<i32>(L + L_D_K);
    const actLut = ptr(L, L_ACT_LUT);
    count(C_MAC_ELEMENTWISE, H);
    count(C_LOAD_PARAM, 2 * H);
    if (gelu) count(C_LUT, H);
    count(C_BRANCH, H);
    for (let h = 0; h < H; h++) {
      const yh = sat16(
        rshift(<i64>i32At(accRe, h) - <i64>i32At(accIm, h), i8At(cShift, h)) + rshift(<i64>i8At(D, h) * <i64>i16At(v, h), dK),
      );
      setI16(y, h, yh);
      setI16(a, h, gelu ? lut(actLut, yh) : (yh > 0 ? yh : 0));
    }

    // SMA: the gate runs iff w·y + bias > 0, decided before any of its work. w is a dense
    // [1, H] matrix (counted as H matrix MACs); acc_re is free until the gate's mat-vec.
    let active = gate;
    if (sma) {
      matvecI8(ptr(L, L_SMA_W), y, accRe);
      active = <i64>load<i32>(accRe) + <i64>load<i32>(L + L_SMA_BIAS) > 0;
      count(C_LOAD_PARAM, 1);
      count(active ? C_SMA_ACTIVE : C_SMA_SKIPPED, 1);
    }

    // z = active ? (a·σ(sat16(rshift(W_g a + b_g, k_h))) + 2^14) >> 15 : a
    let zs = a;
    if (active) {
      matvecI8(ptr(L, L_GATE_W), a, accRe);
      const gb = ptr(L, L_GATE_BIAS);
      const gShift = ptr(L, L_GATE_SHIFT);
      const sig = ptr(L, L_SIGMOID_LUT);
      count(C_MAC_ELEMENTWISE, H);
      count(C_LOAD_PARAM, 2 * H);
      count(C_LUT, H);
      count(C_BRANCH, H);
      for (let h = 0; h < H; h++) {
        const gq = sat16(rshift(<i64>i32At(accRe, h) + <i64>i32At(gb, h), i8At(gShift, h)));
        setI16(z, h, (i16At(a, h) * lut(sig, gq) + 16384) >> 15);
      }
      zs = z;
    }

    // u = sat16(rshift(u, uK) + rshift(z, zK))
    const uK = load<i32>(L + L_U_K);
    const zK = load<i32>(L + L_Z_K);
    count(C_BRANCH, H);
    for (let h = 0; h < H; h++) setI16(u, h, sat16(rshift(<i64>i16At(u, h), uK) + rshift(<i64>i16At(zs, h), zK)));
  }

  // Decoder.
  matvecI8(<usize>hdr(H_DECODER), u, accRe);
  const out = <usize>hdr(H_OUTPUT);
  const decBias = <usize>hdr(H_DECODER_BIAS);
  const decShift = <usize>hdr(H_DECODER_SHIFT);
  const dOut = <i32>hdr(H_D_OUT);
  count(C_LOAD_PARAM, 2 * dOut);
  count(C_BRANCH, dOut);
  for (let j = 0; j < dOut; j++) setI16(out, j, sat16(rshift(<i64>i32At(accRe, j) + <i64>i32At(decBias, j), i8At(decShift, j))));
}

/** Replay the golden steps (from the integer reference) and count outputs that differ at all; 0 = bit-exact. */
export function selftest(): i32 {
  reset();
  const steps = <i32>hdr(H_GOLDEN_STEPS);
  const dIn = <i32>hdr(H_D_IN);
  const dOut = <i32>hdr(H_D_OUT);
  const input = <usize>hdr(H_INPUT);
  const output = <usize>hdr(H_OUTPUT);
  let goldIn = <usize>hdr(H_GOLDEN_INPUT);
  let goldOut = <usize>hdr(H_GOLDEN_OUTPUT);
  let misses = 0;
  for (let t = 0; t < steps; t++) {
    for (let j = 0; j < dIn; j++) setI16(input, j, i16At(goldIn, j));
    step();
    for (let j = 0; j < dOut; j++) if (i16At(output, j) != i16At(goldOut, j)) misses++;
    goldIn += <usize>dIn << 1;
    goldOut += <usize>dOut << 1;
  }
  reset();
  return misses;
}

/**
 * Profile builds (`sparrow compile --profile`): address of the u64 op counters (abi_i16.ts C_*),
 * cumulative since the last reset(). 0 in normal builds, which count nothing.
 */
export function counters_ptr(): usize {
  return <usize>hdr(H_COUNTERS);
}
