// ============================================================================
// What a training task is to the trainer: sequences of input features, and a
// loss on the model's per-step outputs with its gradient. The trainer never
// knows whether it is classifying pixels or masking spectra; a task never
// knows how the model computes. Both tasks are streaming: the model sees one
// step at a time, exactly as the firmware will.
//
//   sfmnist   Fashion-MNIST images as pixel sequences; logits = the mean over
//             time of the outputs (a running mean on the device); loss =
//             cross-entropy; metric = accuracy (%).
//   denoise   STFT magnitude frames of noisy audio; output = a mask per bin,
//             cleaned = noisy × (1 + mask) with the noisy phase; loss = a small
//             MSE + (100 − SI-SNR) on the resynthesised waveform; metric =
//             SI-SNR improvement (dB).
// ============================================================================

export type TaskName = 'sfmnist' | 'denoise';
export type Split = 'train' | 'test';

/** One example: a [T, dIn] input sequence and whatever the task needs to score outputs for it. */
export interface Example {
  /** Row-major [T, dIn]. */
  inputs: Float32Array;
  T: number;
  /** sfmnist: the class. */
  label?: number;
  /** denoise: opaque per-example data for the loss (clean waveform, noisy STFT, …). */
  extra?: unknown;
}

export interface LossResult {
  loss: number;
  /** dLoss/dOutputs, row-major [T, dOut] (same layout as the outputs). */
  grad: Float32Array;
}

/**
 * Knowledge distillation (`train --teacher`): the loss becomes (1 − weight) × the task's loss +
 * weight × temperature² × the divergence of the student's softened outputs from a teacher's
 * (Hinton et al., 2015).
 */
export interface Distillation {
  weight: number;
  temperature: number;
  /** β of hint distillation (hint.ts): the teacher's residual stream after every block; absent or 0: none. */
  hint?: number;
}

export interface Task {
  name: TaskName;
  dIn: number;
  dOut: number;
  /** Steps per example (fixed per task). */
  T: number;
  /** Number of examples in a split. */
  size(split: Split): number;
  /** Example `i` of a split (deterministic: same i, same example). */
  example(split: Split, i: number): Example;
  /** Loss of the model's outputs [T, dOut] for one example, and its gradient. */
  loss(outputs: Float32Array, ex: Example): LossResult;
  /**
   * The distillation loss against a teacher's outputs [T, dOut] on the same example, and its
   * gradient; absent: the task has none (`train --teacher` refuses it).
   */
  distillLoss?(outputs: Float32Array, ex: Example, teacher: Float32Array, d: Distillation): LossResult;
  /** Task metric of one example (accuracy: 1 or 0; denoise: SI-SNR improvement in dB); higher is better. */
  metric(outputs: Float32Array, ex: Example): number;
  /** Name and unit of the metric as averaged over a split, e.g. "accuracy (%)", "SI-SNRi (dB)". */
  metricName: string;
  /** Average of per-example metrics → the reported figure (accuracy: × 100). */
  reduceMetric(values: number[]): number;
}
