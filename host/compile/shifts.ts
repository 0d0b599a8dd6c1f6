// ============================================================================
// Every requantization shift of an integer model, computed once from its fracs
// (frac_in + frac_w − frac_out) and range-checked. The wasm layout and the C
// target both take them from here, so the two targets cannot disagree.
// ============================================================================

import { QuantModel } from '../model/quant';
import { SparrowError } from '../util/errors';

export interface LayerShifts {
  /** v = sat16(rshift(scale·u + shift, norm)). */
  norm: number;
  /** Per state row p: rshift(B v, B[p]). */
  B: Int8Array;
  /** Per output row h: rshift(C_re s_re − C_im s_im, C[h]). */
  C: Int8Array;
  D: number;
  /** Gate only: per row h. */
  gate?: Int8Array;
  /** Residual: u ← sat16(rshift(u, u) + rshift(z, z)). */
  u: number;
  z: number;
}

export interface ModelShifts {
  encoder: Int8Array;
  layers: LayerShifts[];
  decoder: Int8Array;
}

/** The engines shift in i64: left shifts up to 31 bits of an int32 stay exact, right shifts up to 62. */
function checkShift(k: number, what: string): number {
  if (!Number.isInteger(k) || k < -31 || k > 62) throw new SparrowError(`${what}: requantization shift ${k} is outside [-31, 62]; the tensor formats are inconsistent`);
  return k;
}

function rows(what: string, n: number, shift: (r: number) => number): Int8Array {
  const s = new Int8Array(n);
  for (let r = 0; r < n; r++) s[r] = checkShift(shift(r), `${what} row ${r}`);
  return s;
}

export function modelShifts(model: QuantModel): ModelShifts {
  const { d_model: H, d_state: P, d_out } = model.config;
  const layers = model.layers.map((L, i): LayerShifts => {
    const f = L.fmt;
    const w = `layers.${i}`;
    return {
      norm: checkShift(L.normScaleFrac + f.uIn - f.v, `${w}.norm`),
      B: rows(`${w}.ssm.B`, P, (p) => L.B_re.rowFrac[p] + f.v - f.s),
      C: rows(`${w}.ssm.C`, H, (h) => L.C_re.rowFrac[h] + f.s - f.y),
      D: checkShift(L.dFrac + f.v - f.y, `${w}.ssm.D`),
      ...(L.gateWeight ? { gate: rows(`${w}.gate`, H, (h) => L.gateWeight!.rowFrac[h] + f.a - f.g) } : {}),
      u: checkShift(f.uIn - f.uOut, `${w} residual`),
      z: checkShift(f.a - f.uOut, `${w} block output`),
    };
  });
  const lastFrac = model.layers.length > 0 ? model.layers[model.layers.length - 1].fmt.uOut : model.encoderFrac;
  return {
    encoder: rows('encoder', H, (h) => model.encoderWeight.rowFrac[h] + model.inputFrac - model.encoderFrac),
    layers,
    decoder: rows('decoder', d_out, (j) => model.decoderWeight.rowFrac[j] + lastFrac - model.outputFrac),
  };
}
