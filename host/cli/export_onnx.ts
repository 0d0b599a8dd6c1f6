// ============================================================================
// `sparrow export-onnx <model> -o <file.onnx>`: one recurrent step of a model
// as an ONNX graph (host/export/onnx.ts; docs/onnx.md). A quantized model is
// dequantized first (its weights in float, rounding included) and the output
// line says so. Thin layer: read, export, write atomically, print one line.
// Cost: the file holds every matrix dense in float32, 4 bytes per weight of
// the dense model whatever the sparsity.
// ============================================================================

import { Command } from 'commander';
import * as fs from 'fs';
import { dequantizeModel, exportOnnx, ONNX_OPSET, stateNames } from '../export/onnx';
import { parseAnyModel } from '../model/quant_file';
import { Model } from '../model/types';
import { writeFileAtomic } from '../util/atomic';
import { SparrowError } from '../util/errors';

export interface ExportOnnxResult {
  wrote: string;
  bytes: number;
  opset: number;
  /** The source was a quantized model; the graph holds its dequantized weights. */
  dequantized: boolean;
  inputs: string[];
  outputs: string[];
  config: Model['config'];
}

/** Read a float or quantized model file, export its step graph, write it atomically. */
export function exportOnnxFile(modelPath: string, out: string): ExportOnnxResult {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(modelPath);
  } catch (e) {
    throw new SparrowError(`${modelPath}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const parsed = parseAnyModel(bytes, modelPath);
  const model = parsed.kind === 'quantized' ? dequantizeModel(parsed.model) : parsed.model;
  const onnxBytes = exportOnnx(model);
  writeFileAtomic(out, onnxBytes);
  const states = model.layers.map((_, i) => stateNames(i));
  return {
    wrote: out,
    bytes: onnxBytes.length,
    opset: ONNX_OPSET,
    dequantized: parsed.kind === 'quantized',
    inputs: ['x', ...states.flatMap((s) => [s.re, s.im])],
    outputs: ['y', ...states.flatMap((s) => [s.reOut, s.imOut])],
    config: model.config,
  };
}

function summary(r: ExportOnnxResult): string {
  const { d_in, d_state: P, d_out, n_layers } = r.config;
  return [
    `wrote ${r.wrote} (${(r.bytes / 1024).toFixed(1)} KiB, ONNX opset ${r.opset}, float32, one step: x [1, ${d_in}] → y [1, ${d_out}], state s_re_i/s_im_i [1, ${P}] in and s_*_out out for ${n_layers} layer${n_layers === 1 ? '' : 's'}; matrices dense)`,
    ...(r.dequantized ? ['  note: quantized model: the graph holds its dequantized weights (int · 2^-frac, the quantizer\'s rounding included) in float, not the original float model, and no activation quantization'] : []),
  ].join('\n');
}

export function addExportOnnxCommand(program: Command): void {
  program
    .command('export-onnx')
    .description('one recurrent step of a model as an ONNX graph (opset 17, float32, explicit state in/out); quantized models are dequantized')
    .argument('<model>', 'model .safetensors (float or quantized)')
    .requiredOption('-o, --out <file>', 'output .onnx')
    .option('--json', 'machine-readable output')
    .action((modelPath: string, o: { out: string; json?: boolean }) => {
      const r = exportOnnxFile(modelPath, o.out);
      process.stdout.write((o.json ? JSON.stringify(r, null, 2) : summary(r)) + '\n');
    });
}
