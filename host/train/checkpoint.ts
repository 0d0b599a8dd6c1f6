// ============================================================================
// Training checkpoints: everything a run needs to continue exactly where it
// stopped — parameters with BatchNorm running statistics, masks, AdamW's
// moments, the step, the epoch's running loss, the history and the options —
// in one safetensors file (F64 tensors, U8 masks, JSON metadata), written
// atomically so an interrupted write leaves the previous checkpoint intact.
// ============================================================================

import * as fs from 'fs';
import { parseSafetensors, serializeSafetensors, Tensor } from '../model/safetensors';
import { DEFAULT_SALIENCY } from '../compress/prune';
import { SparrowError } from '../util/errors';
import { writeFileAtomic } from '../util/atomic';
import { adamState } from './optim';
import { initParams, paramRefs } from './params';
import { TrainOptions, TrainState } from './trainer';

const FORMAT = 'sparrow-train-checkpoint';

export function serializeCheckpoint(st: TrainState, o: TrainOptions, extra: Record<string, string> = {}): Uint8Array {
  if (o.trainable || o.qatGrids || st.adapter) throw new Error('checkpoint: tuning runs (trainable masks, adapters) are not checkpointed');
  const tensors = new Map<string, Tensor>();
  const f64 = (a: Float64Array): Tensor => ({ dtype: 'F64', shape: [a.length], data: a });
  paramRefs(st.params).forEach((r, k) => {
    tensors.set(`param/${r.name}`, f64(r.value));
    tensors.set(`adam_m/${r.name}`, f64(st.adam.m[k]));
    tensors.set(`adam_v/${r.name}`, f64(st.adam.v[k]));
  });
  st.params.layers.forEach((L, i) => {
    tensors.set(`bn/layers.${i}.running_mean`, f64(L.runMean));
    tensors.set(`bn/layers.${i}.running_var`, f64(L.runVar));
  });
  for (const [name, m] of st.masks) tensors.set(`mask/${name}`, { dtype: 'U8', shape: [m.length], data: m });
  const metadata = {
    format: FORMAT,
    // The saliency is written resolved, so that a resume never depends on the default of the day.
    options: JSON.stringify({ ...o, prune: { ...o.prune, saliency: o.prune.saliency ?? DEFAULT_SALIENCY } }),
    state: JSON.stringify({ step: st.step, adamStep: st.adam.step, epochLoss: st.epochLoss, epochCount: st.epochCount, epochSmaRate: st.epochSmaRate ?? 0, seconds: st.seconds, history: st.history }),
    ...extra,
  };
  return serializeSafetensors({ metadata, tensors });
}

export function writeCheckpoint(file: string, st: TrainState, o: TrainOptions, extra: Record<string, string> = {}): void {
  writeFileAtomic(file, serializeCheckpoint(st, o, extra));
}

export function parseCheckpoint(bytes: Uint8Array, file: string): { state: TrainState; options: TrainOptions; metadata: Record<string, string> } {
  const tf = parseSafetensors(bytes, file);
  if (tf.metadata.format !== FORMAT) throw new SparrowError(`${file}: not a sparrow training checkpoint (format "${tf.metadata.format ?? 'none'}")`);
  let options: TrainOptions;
  let saved: { step: number; adamStep: number; epochLoss: number; epochCount: number; epochSmaRate?: number; seconds: number; history: TrainState['history'] };
  try {
    options = JSON.parse(tf.metadata.options);
    saved = JSON.parse(tf.metadata.state);
  } catch {
    throw new SparrowError(`${file}: checkpoint metadata is not valid JSON`);
  }
  // Checkpoints written before the balanced saliency became the default (2026-12-03) pruned by
  // magnitude without saying so: they resume as they began.
  if (options.prune && options.prune.saliency === undefined) options.prune.saliency = 'magnitude';
  const params = initParams(options.config, options.seed);
  const refs = paramRefs(params);
  const adam = adamState(refs);
  const take = (name: string, into: Float64Array): void => {
    const t = tf.tensors.get(name);
    if (!t || t.dtype !== 'F64' || t.data.length !== into.length) throw new SparrowError(`${file}: ${name}: missing or of the wrong shape for this model`);
    into.set(t.data as Float64Array);
  };
  refs.forEach((r, k) => {
    take(`param/${r.name}`, r.value);
    take(`adam_m/${r.name}`, adam.m[k]);
    take(`adam_v/${r.name}`, adam.v[k]);
  });
  params.layers.forEach((L, i) => {
    take(`bn/layers.${i}.running_mean`, L.runMean);
    take(`bn/layers.${i}.running_var`, L.runVar);
  });
  adam.step = saved.adamStep;
  const masks = new Map<string, Uint8Array>();
  for (const [name, t] of tf.tensors) if (name.startsWith('mask/')) masks.set(name.slice(5), Uint8Array.from(t.data as Uint8Array));
  return {
    state: { params, masks, adam, step: saved.step, history: saved.history, epochLoss: saved.epochLoss, epochCount: saved.epochCount, epochSmaRate: saved.epochSmaRate ?? 0, seconds: saved.seconds },
    options,
    metadata: tf.metadata,
  };
}

export function readCheckpoint(file: string): ReturnType<typeof parseCheckpoint> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    throw new SparrowError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseCheckpoint(bytes, file);
}
