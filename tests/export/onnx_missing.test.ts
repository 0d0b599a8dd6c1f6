// A missing or broken onnxruntime-node (here: its require throws, as a missing
// native binding does) is a note from onnxPeerAvailable and a SparrowError from
// the peer functions, never a crash; exporting needs no ONNX Runtime at all.

jest.mock('onnxruntime-node', () => {
  throw new Error('libonnxruntime.so.1: cannot open shared object file: No such file or directory');
});

import { benchOnnx, onnxPeerAvailable, runOnnx } from '../../host/bench/peers/onnx';
import { exportOnnx } from '../../host/export/onnx';
import { randomModel } from '../../host/model/random';
import { SparrowError } from '../../host/util/errors';

const model = randomModel({ d_in: 1, d_model: 4, d_state: 4, d_out: 1, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0, seed: 1 });

test('onnxPeerAvailable: a note naming the cause, one line', () => {
  const r = onnxPeerAvailable();
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.note).toMatch(/^onnxruntime-node unavailable \(.*cannot open shared object file/);
  expect(r.note).not.toContain('\n');
});

test('benchOnnx and runOnnx reject with that note as a SparrowError', async () => {
  await expect(benchOnnx(model, 10, 1)).rejects.toThrow(SparrowError);
  await expect(runOnnx(model, [1, 2], 2)).rejects.toThrow(/onnxruntime-node unavailable/);
});

test('exporting does not need ONNX Runtime', () => {
  expect(exportOnnx(model).length).toBeGreaterThan(0);
});
