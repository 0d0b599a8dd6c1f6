// ============================================================================
// AdamW with the S5 recipe's two learning rates (the SSM's Λ, Δ and B train
// slower and without weight decay), a linear warm-up then cosine decay, and
// the iterative pruning schedule (Zhu & Gupta, 2017: sparsity rises as a cubic
// from 0 at `start` to the target at `end`, masks recomputed every `every`
// steps, fixed after `end`, or after `regrowEnd` with regrowth).
// ============================================================================

import { ParamRef } from './params';

export interface AdamState {
  step: number;
  m: Float64Array[];
  v: Float64Array[];
}

export interface AdamOptions {
  lr: number;
  ssmLr: number;
  weightDecay: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export function adamState(refs: ParamRef[]): AdamState {
  return { step: 0, m: refs.map((r) => new Float64Array(r.value.length)), v: refs.map((r) => new Float64Array(r.value.length)) };
}

/**
 * Which entries an update may change, per tensor in `refs` order: null = the whole tensor is
 * frozen, a mask = its entries with 1 train; the list itself undefined = everything trains.
 */
export type Trainable = (Uint8Array | null)[] | undefined;

/**
 * One AdamW update of every trainable parameter from its gradient; `scale` multiplies both
 * learning rates (the schedule). A frozen entry is skipped altogether: no moment, no step, no
 * weight decay, so it keeps its value to the bit.
 */
export function adamStep(refs: ParamRef[], grads: ParamRef[], s: AdamState, o: AdamOptions, scale: number, trainable?: Trainable): void {
  const b1 = o.beta1 ?? 0.9;
  const b2 = o.beta2 ?? 0.999;
  const eps = o.eps ?? 1e-8;
  s.step++;
  const c1 = 1 - b1 ** s.step;
  const c2 = 1 - b2 ** s.step;
  refs.forEach((r, k) => {
    const mask = trainable?.[k];
    if (mask === null) return;
    const lr = (r.ssm ? o.ssmLr : o.lr) * scale;
    const wd = r.decay ? o.weightDecay : 0;
    const w = r.value;
    const g = grads[k].value;
    const m = s.m[k];
    const v = s.v[k];
    for (let i = 0; i < w.length; i++) {
      if (mask && !mask[i]) continue;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      w[i] -= lr * ((m[i] / c1) / (Math.sqrt(v[i] / c2) + eps) + wd * w[i]);
    }
  });
}

/** Learning-rate factor at `step` of `total`: linear warm-up over `warmup` steps, then cosine to 0. */
export function lrScale(step: number, total: number, warmup: number): number {
  if (step < warmup) return (step + 1) / warmup;
  const t = (step - warmup) / Math.max(1, total - warmup);
  return 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t)));
}

export interface PruneSchedule {
  target: number;
  /** Fractions of training where pruning starts and reaches the target. */
  start: number;
  end: number;
  /** Recompute the masks every this many steps. */
  every: number;
  /** Sparsity at the start (a sparse model trained further, `train --init`); default 0. */
  initial?: number;
  /**
   * Regrowth (RigL, Evci et al., 2020; with gradual pruning as in GraNet, Liu et al., 2021): at
   * every mask update this fraction of each matrix's kept entries, decaying as a cosine to 0 at
   * `regrowEnd`, is swapped for pruned ones with the largest gradient. Default 0: none.
   */
  regrow?: number;
  /** Fraction of training where regrowth stops (default 0.75, RigL's); mask updates go on on the same grid until then. */
  regrowEnd?: number;
}

/** Sparsity the masks should have at `step` of `total` (Zhu & Gupta's cubic ramp from `initial` to `target`). */
export function sparsityAt(s: PruneSchedule, step: number, total: number): number {
  const t0 = s.start * total;
  const t1 = s.end * total;
  const s0 = s.initial ?? 0;
  if (s.target <= 0 || step < t0) return s0;
  if (step >= t1) return s.target;
  const x = (step - t0) / Math.max(1, t1 - t0);
  return s.target + (s0 - s.target) * (1 - x) ** 3;
}

/** Fraction of each matrix's kept entries regrown at `step` (RigL's cosine decay, 0 from `regrowEnd` on). */
export function regrowFraction(s: PruneSchedule, step: number, total: number): number {
  const end = (s.regrowEnd ?? 0.75) * total;
  if (!s.regrow || s.target <= 0 || step >= end) return 0;
  return (s.regrow / 2) * (1 + Math.cos((Math.PI * step) / end));
}

/** Whether the masks are updated at this step: pruneNow, or on the same grid while regrowth lasts (after `end` too). */
export function maskUpdateNow(s: PruneSchedule, step: number, total: number): boolean {
  return pruneNow(s, step, total) || (regrowFraction(s, step, total) > 0 && onGrid(s, step, total));
}

/** Whether the masks are recomputed at this step: on the schedule's grid inside [start, end], and once at the end. */
export function pruneNow(s: PruneSchedule, step: number, total: number): boolean {
  if (s.target <= 0) return false;
  const t1 = Math.ceil(s.end * total);
  return (step < t1 && onGrid(s, step, total)) || step === t1;
}

/** Every `every` steps from the start of pruning. */
function onGrid(s: PruneSchedule, step: number, total: number): boolean {
  const t0 = Math.ceil(s.start * total);
  return step >= t0 && (step - t0) % s.every === 0;
}
