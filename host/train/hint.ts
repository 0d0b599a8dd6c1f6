// ============================================================================
// Hint distillation (`train --teacher … --kd-hint β`): besides the teacher's
// logits, the student learns the teacher's residual stream after every block,
// at every step: far more targets per example than the ten logits at the last
// step, and exactly where a pruned model loses what its dense teacher carries.
// (FitNets, Romero et al., 2015, with the teacher's own width, so no
// regressor; layer-wise distillation as in pruning work on transformers.)
//
// For example n and block l, with s and t the student's and the teacher's
// stream [T, H] after that block:
//
//   hint_n = β / L · Σ_l ‖s_l − t_l‖² / ‖t_l‖²
//
// normalised by the teacher's own energy so the term is scale-free (1 for a
// student that outputs 0, whatever the stream's size) and one β fits every
// layer; the batch loss gains the mean over examples. The teacher's streams
// are constants: only the student learns.
// ============================================================================

export interface HintResult {
  /** Σ over the batch's examples of hint_n (the caller divides by the batch size, as it does the task loss). */
  loss: number;
  /** ∂(Σ_n hint_n)/∂s_l, one [N·T, H] array per block, the layout of Tape.blockOut. */
  grads: Float64Array[];
}

/**
 * The hint loss of a batch of N sequences of T steps, given the student's and the teacher's
 * residual streams after each block ([N·T, H] each, stacked by sequence), and its gradient.
 */
export function hintLoss(student: Float64Array[], teacher: Float64Array[], N: number, T: number, H: number, beta: number): HintResult {
  if (student.length !== teacher.length) throw new Error(`hintLoss: ${student.length} student blocks, ${teacher.length} teacher blocks`);
  const L = student.length;
  const per = T * H;
  let loss = 0;
  const grads = student.map((s, l) => {
    const t = teacher[l];
    if (s.length !== N * per || t.length !== N * per) throw new Error(`hintLoss: block ${l} has ${s.length} and ${t.length} values, want ${N * per}`);
    const g = new Float64Array(s.length);
    for (let n = 0, o = 0; n < N; n++, o += per) {
      let err = 0;
      let energy = 0;
      for (let i = o; i < o + per; i++) {
        const d = s[i] - t[i];
        err += d * d;
        energy += t[i] * t[i];
      }
      // A teacher stream of exactly 0 has nothing to teach: no term (and no division by 0).
      if (energy === 0) continue;
      const k = beta / L / energy;
      loss += k * err;
      for (let i = o; i < o + per; i++) g[i] = 2 * k * (s[i] - t[i]);
    }
    return g;
  });
  return { loss, grads };
}
