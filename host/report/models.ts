// ============================================================================
// The reference-model table and Pareto plot of models/README.md: every
// trained model in a directory (a float model with a `task` in its metadata,
// and its w8a16 sibling `<name>.q.safetensors`), with its test metric as
// `sparrow train` recorded it, nonzeros, MACs per step, the integer
// firmware's size, and how it was trained. `sparrow models` prints it; the
// SVG plots metric against MACs/step per task, dense and sparse models of
// one architecture as a line and every other model as its own point.
// ============================================================================

import * as fs from 'fs';
import * as path from 'path';
import { compileInMemory } from '../compile/files';
import { describeModel } from '../model/describe';
import { readModel } from '../model/model';
import { parseAnyModel } from '../model/quant_file';
import { SparrowError } from '../util/errors';
import { lineChart, LineSeries, PALETTE } from './svg';

export interface ModelRow {
  file: string;
  quantizedFile?: string;
  task: string;
  metricName: string;
  /** Float model's test metric (full test split), as recorded at the end of training. */
  metric: number;
  quantizedMetric?: number;
  /** The w8a16 model has one scale per weight row (else per matrix). */
  perChannel?: boolean;
  config: { d_model: number; d_state: number; n_layers: number; act: string; gate: boolean; sma: boolean };
  /** Architecture key: models with the same one form the dense-to-sparse line. */
  arch: string;
  sparsity: number;
  nonzeros: number;
  parameters: number;
  macsPerStep: number;
  /** Integer firmware (w8a16, default formats), bytes of firmware.wasm. */
  firmwareBytes?: number;
  trainSeconds?: number;
  /** `train --init`: the model it was trained further from, and the training seconds behind that one (in trainSeconds too). */
  initFrom?: string;
  initSeconds?: number;
  seqStepsPerSecond?: number;
  threads?: number;
  command?: string;
}

const num = (s: string | undefined): number | undefined => (s === undefined || s === '' || !Number.isFinite(Number(s)) ? undefined : Number(s));

/** Rows for every trained float model in `dir`, sorted by task, architecture and sparsity. */
export function collectModels(dir: string): ModelRow[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new SparrowError(`${dir}: not a directory of models`);
  const rows: ModelRow[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    if (!name.endsWith('.safetensors') || name.endsWith('.q.safetensors')) continue;
    const file = path.join(dir, name);
    const m = parseAnyModel(fs.readFileSync(file), file);
    if (m.kind !== 'float' || !m.model.metadata.task || m.model.metadata.partial === 'true') continue;
    const meta = m.model.metadata;
    const c = m.model.config;
    const s = describeModel(readModel(file));
    const qFile = file.replace(/\.safetensors$/, '.q.safetensors');
    let quantizedMetric: number | undefined;
    let firmwareBytes: number | undefined;
    let perChannel: boolean | undefined;
    if (fs.existsSync(qFile)) {
      const q = parseAnyModel(fs.readFileSync(qFile), qFile);
      quantizedMetric = q.kind === 'quantized' ? num(q.model.metadata.test_metric) : undefined;
      perChannel = q.kind === 'quantized' && q.model.metadata.quantization ? !!(JSON.parse(q.model.metadata.quantization) as { perChannel?: boolean }).perChannel : undefined;
      firmwareBytes = compileInMemory(qFile).wasm.length;
    }
    rows.push({
      file: name,
      ...(fs.existsSync(qFile) ? { quantizedFile: path.basename(qFile) } : {}),
      task: meta.task,
      metricName: meta.metric_name ?? 'metric',
      metric: num(meta.test_metric) ?? NaN,
      quantizedMetric,
      ...(perChannel !== undefined ? { perChannel } : {}),
      config: { d_model: c.d_model, d_state: c.d_state, n_layers: c.n_layers, act: c.act, gate: c.gate, sma: !!c.sma },
      arch: `H${c.d_model} P${c.d_state} L${c.n_layers} ${c.act}${c.gate ? ' gate' : ''}${c.sma ? ' sma' : ''}`,
      sparsity: num(meta.sparsity) ?? s.matrixSparsity,
      nonzeros: s.nonzeros,
      parameters: s.parameters,
      macsPerStep: s.macsPerStep,
      firmwareBytes,
      trainSeconds: meta.train_seconds === undefined ? undefined : (num(meta.train_seconds) ?? 0) + (num(meta.init_train_seconds) ?? 0),
      ...(meta.init_from ? { initFrom: path.basename(meta.init_from), ...(num(meta.init_train_seconds) !== undefined ? { initSeconds: num(meta.init_train_seconds) } : {}) } : {}),
      seqStepsPerSecond: num(meta.seq_steps_per_second),
      threads: num(meta.threads),
      command: meta.command,
    });
  }
  return rows.sort((a, b) => a.task.localeCompare(b.task) || a.arch.localeCompare(b.arch) || a.sparsity - b.sparsity);
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const kib = (b?: number): string => (b === undefined ? '–' : `${(b / 1024).toFixed(1)} KiB`);
const duration = (s?: number): string => (s === undefined ? '–' : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);

export function modelsMarkdown(rows: ModelRow[]): string {
  const head = '| model | task | architecture | sparsity | test metric (float) | w8a16 | nonzeros / parameters | MACs/step | firmware (w8a16) | training time | throughput |';
  const lines = [head, '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    lines.push(`| \`${r.file}\` | ${r.task} | ${r.arch} | ${(r.sparsity * 100).toFixed(0)}% | ${r.metricName} ${r.metric.toFixed(2)} | ${r.quantizedMetric === undefined ? '–' : r.quantizedMetric.toFixed(2) + (r.perChannel ? ' (per channel)' : '')} | ${int(r.nonzeros)} / ${int(r.parameters)} | ${int(r.macsPerStep)} | ${kib(r.firmwareBytes)} | ${duration(r.trainSeconds)}${r.threads ? ` (${r.threads} thread${r.threads === 1 ? '' : 's'})` : ''}${r.initFrom ? `, ${r.initSeconds !== undefined ? `${duration(r.initSeconds)} of it ` : ''}training \`${r.initFrom}\`` : ''} | ${r.seqStepsPerSecond === undefined ? '–' : `${int(r.seqStepsPerSecond)} seq-steps/s`} |`);
  }
  lines.push('', 'Training commands (each model records its own in its metadata, `command`):', '');
  for (const r of rows) if (r.command) lines.push(`- \`${r.file}\`: \`${r.command}\``);
  return lines.join('\n');
}

/** One SVG per task: metric vs MACs/step, a line per architecture (its sparsity levels), float solid and w8a16 dashed. */
export function paretoSvg(rows: ModelRow[], task: string): string {
  const mine = rows.filter((r) => r.task === task);
  if (mine.length === 0) throw new SparrowError(`no trained ${task} models to plot`);
  const archs = [...new Set(mine.map((r) => r.arch))];
  const series: LineSeries[] = [];
  archs.forEach((arch, i) => {
    const of = mine.filter((r) => r.arch === arch);
    const color = PALETTE[i % PALETTE.length];
    series.push({ name: `${arch} float`, color, points: of.map((r) => [r.macsPerStep, r.metric]) });
    const q = of.filter((r) => r.quantizedMetric !== undefined);
    if (q.length) series.push({ name: `${arch} w8a16`, color, dashed: true, points: q.map((r) => [r.macsPerStep, r.quantizedMetric!]) });
  });
  return lineChart({ title: `${task}: ${mine[0].metricName} vs MACs per step (points: sparsity levels)`, xLabel: 'MACs per step (nonzero weights)', yLabel: mine[0].metricName, series, yFromZero: false });
}
