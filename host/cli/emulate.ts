// ============================================================================
// `sparrow emulate <model.q.safetensors>`: run a quantized model on the
// event-driven neuromorphic emulator (host/emulator/) against a chip profile
// (boards/<chip>.json) and print the placement, per-layer figures and the
// dense / sparse / sigma-delta comparison. Argument parsing and output only;
// every figure comes from host/emulator/report.ts, the page from html.ts.
// ============================================================================

import { Command } from 'commander';
import { writeSequence } from '../model/sequence';
import { writeFileAtomic } from '../util/atomic';
import { DEFAULT_CHIP, loadChip } from '../emulator/chip';
import { validateThreshold } from '../emulator/emulate';
import { emulationHtml } from '../emulator/html';
import { emulateModel, emulationJson, emulatorInput, emulatorTaskInput, formatEmulationText, readQuantModelFile } from '../emulator/report';
import { SparrowError } from '../util/errors';
import { makeTask } from '../train/tasks';
import { addTaskOptions, TaskCliOptions, taskSpec } from './train';
import { intArg } from './options';

/** Steps of the event raster in the HTML page (the first ones). */
const HTML_RASTER_STEPS = 120;

interface EmulateCliOptions extends Partial<TaskCliOptions> {
  examples: number;
  chip: string;
  threshold: number;
  input?: string;
  steps?: number;
  seed: number;
  output?: string;
  json?: boolean;
  html?: string;
}

export function addEmulateCommand(program: Command): void {
  const command = program
    .command('emulate')
    .description('run a quantized model on an event-driven neuromorphic chip emulator: bit-exact outputs at threshold 0, messages, synaptic ops, hops, and estimated µs and µJ per step')
    .argument('<model>', 'quantized model .safetensors (sparrow quantize)')
    .option('--chip <name>', 'chip profile: a name in boards/ or a path to a JSON file with "kind": "neuromorphic"', DEFAULT_CHIP)
    // Parsed to a number only; the emulator refuses negative or non-numeric thresholds with one line.
    .option('--threshold <T>', 'message threshold in int16 units: 0 = a message per nonzero value (exact); T > 0 = sigma-delta, send a change when |Δ| ≥ T', (v: string) => (v.trim() === '' ? NaN : Number(v)), 0)
    .option('--input <file>', 'input sequence [T, d_in] (.npy or .csv); quantized like `sparrow run`')
    .option('--steps <n>', 'steps of N(0, 1) input when no --input (default 200); with --input, the first n steps', intArg(1, 10_000_000))
    .option('--seed <n>', 'seed of the random input', intArg(0, 2 ** 31 - 1), 0)
    .option('--output <file>', 'write the emulated outputs [T, d_out] (.npy or .csv), dequantized as `sparrow run` does')
    .option('--json', 'machine-readable report')
    .option('--html <file>', 'write a self-contained HTML report: core heatmap on the mesh, event raster, tables')
    .option('--examples <n>', 'with --task: test examples scored (each from a zero state) and streamed for the figures', intArg(1, 100_000), 10);
  addTaskOptions(command, false)
    .action((modelPath: string, o: EmulateCliOptions) => {
      validateThreshold(o.threshold);
      const model = readQuantModelFile(modelPath);
      const chip = loadChip(o.chip);
      if (o.task && o.input) throw new SparrowError('emulate: give --input <file> or --task <name>, not both');
      const task = o.task ? emulatorTaskInput(model, makeTask(taskSpec(o as TaskCliOptions)), o.examples) : undefined;
      const input = task?.input ?? emulatorInput(model, { input: o.input, steps: o.steps, seed: o.seed });
      const report = emulateModel(model, modelPath, chip, input, { threshold: o.threshold, rasterSteps: o.html ? HTML_RASTER_STEPS : undefined, task });
      const written: string[] = [];
      if (o.output) {
        const scale = 2 ** -model.outputFrac;
        writeSequence(o.output, Float32Array.from(report.run.outputs, (v) => v * scale), input.steps, model.config.d_out);
        written.push(o.output);
      }
      if (o.html) {
        writeFileAtomic(o.html, emulationHtml(report));
        written.push(o.html);
      }
      if (o.json) process.stdout.write(JSON.stringify({ ...(emulationJson(report) as object), wrote: written }, null, 2) + '\n');
      else process.stdout.write(formatEmulationText(report) + '\n' + written.map((f) => `wrote ${f}\n`).join(''));
    });
}
