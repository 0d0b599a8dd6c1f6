// ============================================================================
// ONNX Runtime as a benchmark peer: the exported step graph (host/export/onnx.ts)
// run by onnxruntime-node's CPU execution provider, state fed back step to step
// so it really streams.
//
// Fairness: one thread (intraOpNumThreads = interOpNumThreads = 1, sequential
// execution), because the firmware is single-threaded and a microcontroller
// has one core; at these sizes (≤ 128×128 matrices) extra threads mostly add
// synchronisation anyway. Graph optimizations are on ('all').
//
// What a sample costs: each `await session.run(feeds)` is timed alone with
// process.hrtime. onnxruntime-node runs the graph synchronously inside a
// setImmediate callback and resolves a promise, so a sample includes one
// event-loop turn, feed/fetch marshalling and output tensor allocation. That
// per-call overhead is measured apart on a trivial graph (one Identity on a
// [1, 1] tensor), so compute ≈ step − overhead, like host_bench.ts does for
// the firmware. ONNX Runtime computes DENSE matrices: sparsity does not help it.
//
// onnxruntime-node is loaded lazily: a missing or broken install (native
// binding) is reported by onnxPeerAvailable() as a note, never a crash, and the
// rest of sparrow never loads it.
// ============================================================================

import type * as Ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { exportOnnx, ONNX_IR_VERSION, ONNX_OPSET, stateNames } from '../../export/onnx';
import { Model } from '../../model/types';
import { SparrowError } from '../../util/errors';
import { makeRng } from '../../util/rng';
import { latencyStats, LatencyStats } from '../timing';

type OrtModule = typeof Ort;

/** Threads given to ONNX Runtime when benchmarking (see the banner). */
export const ONNX_BENCH_THREADS = 1;

function loadOrt(): OrtModule {
  // A plain require inside a function: esbuild keeps it external, and the CLI
  // loads the native binding only when an ONNX peer is actually asked for.
  return require('onnxruntime-node') as OrtModule;
}

/** Is onnxruntime-node installed and does its native binding load? */
export function onnxPeerAvailable(): { ok: true } | { ok: false; note: string } {
  try {
    const ort = loadOrt();
    if (typeof ort.InferenceSession?.create !== 'function') return { ok: false, note: 'onnxruntime-node: no InferenceSession in the installed package' };
    return { ok: true };
  } catch (e) {
    return { ok: false, note: `onnxruntime-node unavailable (${(e as Error).message.split('\n')[0]})` };
  }
}

/** The module, or the availability note as a SparrowError. */
function availableOrt(): OrtModule {
  const available = onnxPeerAvailable();
  if (!available.ok) throw new SparrowError(available.note);
  return loadOrt();
}

function sessionOptions(): Ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: ONNX_BENCH_THREADS,
    interOpNumThreads: ONNX_BENCH_THREADS,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
}

async function createSession(ort: OrtModule, bytes: Uint8Array, what: string): Promise<Ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(bytes, sessionOptions());
  } catch (e) {
    throw new SparrowError(`onnxruntime: cannot load ${what}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** One Identity on a [1, 1] float tensor: what a session.run costs with no compute. */
function identityGraph(): Uint8Array {
  const info = (name: string): onnx.IValueInfoProto => ({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 1 }] } } } });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'sparrow',
    graph: { name: 'identity', node: [{ opType: 'Identity', input: ['x'], output: ['y'], name: 'y' }], input: [info('x')], output: [info('y')] },
  })).finish();
}

/** A streaming driver of the step graph: zero state, then step(x) → y with the state fed back. */
interface Stream {
  step(x: Ort.Tensor): Promise<Float32Array>;
}

function openStream(ort: OrtModule, session: Ort.InferenceSession, model: Model): Stream {
  const P = model.config.d_state;
  const feeds: Record<string, Ort.Tensor> = {};
  model.layers.forEach((_, i) => {
    const s = stateNames(i);
    feeds[s.re] = new ort.Tensor('float32', new Float32Array(P), [1, P]);
    feeds[s.im] = new ort.Tensor('float32', new Float32Array(P), [1, P]);
  });
  return {
    async step(x) {
      feeds.x = x;
      const out = await session.run(feeds);
      // The new state tensors become the next step's inputs as they are (no copy).
      model.layers.forEach((_, i) => {
        const s = stateNames(i);
        feeds[s.re] = out[s.reOut] as Ort.Tensor;
        feeds[s.im] = out[s.imOut] as Ort.Tensor;
      });
      return out.y.data as Float32Array;
    },
  };
}

/** Run a [T, d_in] sequence from the zero state through ONNX Runtime; returns [T, d_out] float32. */
export async function runOnnx(model: Model, inputs: ArrayLike<number>, T: number): Promise<Float32Array> {
  const { d_in, d_out } = model.config;
  const ort = availableOrt();
  const session = await createSession(ort, exportOnnx(model), 'the exported step graph');
  try {
    const stream = openStream(ort, session, model);
    const out = new Float32Array(T * d_out);
    for (let t = 0; t < T; t++) {
      const x = Float32Array.from({ length: d_in }, (_, j) => inputs[t * d_in + j]);
      out.set(await stream.step(new ort.Tensor('float32', x, [1, d_in])), t * d_out);
    }
    return out;
  } finally {
    await session.release();
  }
}

/** Time `fn` once per awaited call, `count` times, after `warmup` untimed calls (timeEach for promises). */
async function timeEachAsync(fn: (i: number) => Promise<unknown>, count: number, warmup: number): Promise<Float64Array> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const samples = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return samples;
}

export interface OnnxBenchResult {
  /** Per session.run of the step graph, µs. */
  step: LatencyStats;
  /** Per session.run of a one-Identity graph, µs: the call cost with no compute. */
  overhead: LatencyStats;
  intraOpThreads: number;
}

/**
 * Time `steps` streaming session.run calls of the model's step graph (fresh
 * N(0, 1) input each step, from a pre-built pool of input tensors so no tensor
 * is built inside the timed region), and as many calls of the Identity graph.
 */
export async function benchOnnx(model: Model, steps: number, warmup: number): Promise<OnnxBenchResult> {
  const ort = availableOrt();
  const { d_in } = model.config;
  const rng = makeRng(11);
  const pool = Array.from({ length: 64 }, () => new ort.Tensor('float32', Float32Array.from({ length: d_in }, () => rng.normal()), [1, d_in]));

  const session = await createSession(ort, exportOnnx(model), 'the exported step graph');
  let step: Float64Array;
  try {
    const stream = openStream(ort, session, model);
    step = await timeEachAsync((i) => stream.step(pool[i & 63]), steps, warmup);
  } finally {
    await session.release();
  }

  const identity = await createSession(ort, identityGraph(), 'the Identity graph');
  let overhead: Float64Array;
  try {
    const feeds = { x: new ort.Tensor('float32', new Float32Array([1]), [1, 1]) };
    overhead = await timeEachAsync(() => identity.run(feeds), steps, warmup);
  } finally {
    await identity.release();
  }
  return { step: latencyStats(step), overhead: latencyStats(overhead), intraOpThreads: ONNX_BENCH_THREADS };
}
