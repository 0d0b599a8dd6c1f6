// `sparrow models`: the table and plot of trained models, read from what `sparrow train`
// writes (metadata of the float model, its `.q.safetensors` sibling).

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { quantizeModel } from '../../host/compress/quantize';
import { readModel, toDense, writeModel } from '../../host/model/model';
import { serializeQuantModel } from '../../host/model/quant_file';
import { randomModel } from '../../host/model/random';
import { collectModels, modelsMarkdown, paretoSvg } from '../../host/report/models';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-models-'));
  const meta = (metric: string, sparsity: string) => ({ task: 'sfmnist', metric_name: 'accuracy (%)', test_metric: metric, sparsity, train_seconds: '7200', seq_steps_per_second: '20000', threads: '2', command: `sparrow train --task sfmnist --sparsity ${sparsity}` });
  // d_in 4, H 8, P 4, 1 layer, d_out 10: matrices enc 32 + B 2·16 + C 2·16 + dec 80 = 176 entries.
  const dense = randomModel({ d_in: 4, d_model: 8, d_state: 4, d_out: 10, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0, seed: 1 });
  const sparse = randomModel({ d_in: 4, d_model: 8, d_state: 4, d_out: 10, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0.5, seed: 2 });
  writeModel(path.join(dir, 'a-s0.safetensors'), { ...dense, metadata: meta('85.5', '0') });
  // Pruned from a-s0 (train --init): its half hour adds to a-s0's two hours.
  writeModel(path.join(dir, 'a-s50.safetensors'), { ...sparse, metadata: { ...meta('84.25', '0.5'), train_seconds: '1800', init_from: 'models/a-s0.safetensors', init_train_seconds: '7200' } });
  const q = quantizeModel(dense, { sequences: [{ data: new Float64Array(40).fill(0.3), T: 10 }] });
  q.metadata = { ...q.metadata, test_metric: '85.1' };
  fs.writeFileSync(path.join(dir, 'a-s0.q.safetensors'), serializeQuantModel(q));
  const qs = quantizeModel(sparse, { sequences: [{ data: new Float64Array(40).fill(0.3), T: 10 }] }, { perChannel: true });
  qs.metadata = { ...qs.metadata, test_metric: '84' };
  fs.writeFileSync(path.join(dir, 'a-s50.q.safetensors'), serializeQuantModel(qs));
  // Not a trained model (no task): left out.
  writeModel(path.join(dir, 'random.safetensors'), dense);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('rows come from the training metadata; the w8a16 sibling adds its metric and firmware size', () => {
  const rows = collectModels(dir);
  expect(rows.map((r) => r.file)).toEqual(['a-s0.safetensors', 'a-s50.safetensors']);
  const [d, s] = rows;
  expect(d).toMatchObject({ task: 'sfmnist', metric: 85.5, quantizedMetric: 85.1, perChannel: false, sparsity: 0, arch: 'H8 P4 L1 gelu', trainSeconds: 7200, threads: 2 });
  expect(d.firmwareBytes).toBeGreaterThan(1000);
  expect(s).toMatchObject({ metric: 84.25, sparsity: 0.5, quantizedMetric: 84, perChannel: true, trainSeconds: 9000, initFrom: 'a-s0.safetensors', initSeconds: 7200 });
  // The sparse model has exactly as many fewer nonzeros as its matrices have zero entries.
  const sparse = readModel(path.join(dir, 'a-s50.safetensors'));
  const zeros = [sparse.encoderWeight, sparse.decoderWeight, sparse.layers[0].B_re, sparse.layers[0].B_im, sparse.layers[0].C_re, sparse.layers[0].C_im]
    .reduce((a, m) => a + toDense(m).values.filter((v) => v === 0).length, 0);
  expect(zeros).toBeGreaterThan(50);
  expect(d.nonzeros - s.nonzeros).toBe(zeros);
  const md = modelsMarkdown(rows);
  expect(md).toContain('| `a-s0.safetensors` | sfmnist | H8 P4 L1 gelu | 0% | accuracy (%) 85.50 | 85.10 |');
  expect(md).toContain('| `a-s50.safetensors` | sfmnist | H8 P4 L1 gelu | 50% | accuracy (%) 84.25 | 84.00 (per channel) |');
  expect(md).toContain('| 2.0 h (2 threads) | 20,000 seq-steps/s |');
  expect(md).toContain('| 2.5 h (2 threads), 2.0 h of it training `a-s0.safetensors` | 20,000 seq-steps/s |');
  expect(md).toContain('- `a-s50.safetensors`: `sparrow train --task sfmnist --sparsity 0.5`');
});

test('the plot has one float line and one w8a16 line through both sparsity levels', () => {
  const svg = paretoSvg(collectModels(dir), 'sfmnist');
  const lines = [...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)].map((m) => m[1].trim().split(' ').length);
  expect(lines).toEqual([2, 2]);
  expect(svg).toContain('H8 P4 L1 gelu w8a16');
  // The y axis fits the metrics (84–85.5), not 0–100: its tick labels stay near them.
  const yTicks = [...svg.matchAll(/<text x="\d+(?:\.\d+)?" y="[\d.]+" text-anchor="end"[^>]*>([^<]*)<\/text>/g)].map((m) => Number(m[1]));
  expect(yTicks.length).toBeGreaterThan(1);
  for (const t of yTicks) expect(t).toBeGreaterThanOrEqual(83);
  expect(() => paretoSvg(collectModels(dir), 'denoise')).toThrow('no trained denoise models to plot');
});
