// ============================================================================
// `sparrow quantize` from and to files: read a float model and calibration
// data, quantize, measure SQNR on the calibration data, write atomically.
// ============================================================================

import { readModel } from '../model/model';
import { serializeQuantModel } from '../model/quant_file';
import { readSequence } from '../model/sequence';
import { writeFileAtomic } from '../util/atomic';
import { SparrowError } from '../util/errors';
import { makeRng } from '../util/rng';
import { QuantModel } from '../model/quant';
import { CalibrationSet, quantizeModel } from './quantize';
import { measureSqnr, SqnrReport } from './sqnr';

export interface QuantizeFileOptions {
  /** A [T, d_in] .npy/.csv sequence, or … */
  calib?: string;
  /** … this many steps of N(0, 1) inputs (seeded). */
  calibRandom?: number;
  perChannel?: boolean;
  seed?: number;
  /** … or these sequences (a task's first training examples, `quantize --task`). */
  calibSet?: CalibrationSet;
  /** Score the quantized model (its task metric, recorded as `test_metric`). */
  score?: (q: QuantModel) => number;
}

export interface QuantizeFileResult {
  sqnr: SqnrReport;
  /** The quantized model's task metric, with `score`. */
  metric?: number;
  inputFrac: number;
  outputFrac: number;
}

export function quantizeModelFile(input: string, output: string, opts: QuantizeFileOptions): QuantizeFileResult {
  const model = readModel(input);
  if (model.metadata.quantization !== undefined) throw new SparrowError(`${input}: is already quantized`);
  let calib: CalibrationSet;
  if (opts.calib !== undefined) {
    const seq = readSequence(opts.calib, model.config.d_in);
    calib = { sequences: [{ data: seq.data, T: seq.T }] };
  } else if (opts.calibRandom !== undefined) {
    const rng = makeRng(opts.seed ?? 0);
    const T = opts.calibRandom;
    calib = { sequences: [{ data: Float64Array.from({ length: T * model.config.d_in }, () => rng.normal()), T }] };
  } else if (opts.calibSet !== undefined) {
    const dIn = model.config.d_in;
    const bad = opts.calibSet.sequences.find((q) => q.data.length !== q.T * dIn);
    if (bad) throw new SparrowError(`${input}: the task's inputs have ${bad.data.length / bad.T} values per step; the model takes d_in ${dIn}`);
    calib = opts.calibSet;
  } else {
    throw new SparrowError('quantize needs calibration data: --calib data.npy|data.csv, --calib-random N or --task …');
  }
  let q;
  try {
    q = quantizeModel(model, calib, { perChannel: opts.perChannel });
  } catch (e) {
    if (e instanceof SparrowError) throw new SparrowError(`${input}: ${e.message}`);
    throw e;
  }
  const sqnr = measureSqnr(model, q, calib);
  // A trained model's test_metric is its float score: the quantized model's is its own, or none.
  const { test_metric: _float, ...metadata } = q.metadata;
  const metric = opts.score?.(q);
  q = { ...q, metadata: { ...metadata, ...(metric !== undefined ? { test_metric: metric.toFixed(3) } : {}) } };
  writeFileAtomic(output, serializeQuantModel(q));
  return { sqnr, inputFrac: q.inputFrac, outputFrac: q.outputFrac, ...(metric !== undefined ? { metric } : {}) };
}
