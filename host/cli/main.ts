// ============================================================================
// `sparrow` command line: argument parsing only. Each command is a thin call
// into the library modules. Every failure a user can cause ends as one line on
// stderr and a non-zero exit; SPARROW_DEBUG=1 adds the stack of internal errors.
// ============================================================================

import { Command, Option } from 'commander';
import * as path from 'path';
import { compileCToDirectory, compileToDirectory, compileInMemory } from '../compile/files';
import { EXECUTION_MODES, ExecutionMode } from '../bench/cost';
import { loadBoard } from '../bench/boards';
import { runDemo } from '../demo/demo';
import { importS5, readImportFile } from '../model/import';
import { readModel, writeModel } from '../model/model';
import { randomModel } from '../model/random';
import { readSequence, writeSequence, formatSequenceCsv } from '../model/sequence';
import { addBenchCommand } from './bench';
import { addEmulateCommand } from './emulate';
import { addTaskOptions, addTrainCommands, TaskCliOptions, taskSpec } from './train';
import { makeTask } from '../train/tasks';
import { CALIBRATION_EXAMPLES, scoreModel } from '../train/run';
import { QuantModel } from '../model/quant';
import { CalibrationSet } from '../compress/quantize';
import { addTuneCommand } from './tune';
import { isTrainWorker, runTrainWorker } from '../train/pool';
import { addExportOnnxCommand } from './export_onnx';
import { addPatchCommands } from './patch';
import { quantizeModelFile } from '../compress/files';
import { DEFAULT_SALIENCY, DISTRIBUTIONS, MAX_SPARSITY, pruneModel, PruneDistribution, PruneSaliency, SALIENCIES } from '../compress/prune';
import { SPARSE_FORMATS, SparseFormat } from '../compress/formats';
import { bundleModel } from '../compile/bundle_files';
import { checkForRuntime, Runtime, RUNTIMES } from '../compile/runtime_check';
import { formatBytes, formatTable } from '../report/table';
import { describeFile } from '../report/info';
import { collectModels, modelsMarkdown, paretoSvg } from '../report/models';
import { writeFileAtomic } from '../util/atomic';
import { createRunner } from '../runtime/runtime';
import { readFirmware } from '../runtime/files';
import { readCounters } from '../runtime/counters';
import { SparrowError } from '../util/errors';
import { intArg, numArg } from './options';

const VERSION = '0.1.0';

// ---------------------------------------------------------------------------
// Output (option parsers are in options.ts).
// ---------------------------------------------------------------------------

function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : text() + '\n');
}

/** The report of a command that writes one model file. */
function wrote(json: boolean, file: string, config: unknown): void {
  print(json, { wrote: file, config }, () => `wrote ${file}`);
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

export function buildProgram(): Command {
  const program = new Command('sparrow')
    .description('Compile sparse linear recurrent networks (S5-style SSMs) into fixed-memory WebAssembly firmware.')
    .version(VERSION)
    .showSuggestionAfterError()
    .configureOutput({ outputError: (str, write) => write(str.split('\n')[0].replace(/^error: /, 'sparrow: ') + '\n') });

  program
    .command('compile')
    .description('compile a model into firmware.wasm + manifest.json (f32 engine for float models, integer engine for quantized ones)')
    .argument('<model>', 'model file (.safetensors)')
    .requiredOption('-o, --out <dir>', 'output directory')
    .option('--golden-steps <n>', 'input steps embedded for selftest()', intArg(16, 100000), 16)
    .option('--golden-seed <n>', 'seed of the golden inputs', intArg(0, 2 ** 31 - 1), 1)
    .option('--no-wasm-opt', 'skip the binaryen wasm-opt pass')
    .addOption(new Option('--format <format>', 'integer engine: sparse format of table-driven matrices (auto = smallest per matrix)').choices(['auto', ...SPARSE_FORMATS]).default('auto'))
    .addOption(new Option('--kernel <strategy>', 'integer engine: csr = table-driven kernels, unrolled = weights in code, auto = per matrix by the cost model for --board').choices(['csr', 'unrolled', 'auto']).default('csr'))
    .option('--board <name>', 'with --kernel auto: the board and its budget (boards/*.json)', 'stm32f767')
    .addOption(new Option('--mode <mode>', 'with --kernel auto: execution mode on the board').choices(EXECUTION_MODES).default('wamr-aot'))
    .option('--profile', 'integer engine: build the op-counting variant (counters_ptr(), docs/firmware-abi.md)', false)
    .addOption(new Option('--target <target>', 'wasm firmware, or C99 sources (sparrow_model.c/.h) of a quantized model').choices(['wasm', 'c']).default('wasm'))
    .option('--json', 'print the manifest as JSON')
    .action((modelPath: string, o: { out: string; goldenSteps: number; goldenSeed: number; wasmOpt: boolean; format: SparseFormat | 'auto'; kernel: 'csr' | 'unrolled' | 'auto'; board: string; mode: ExecutionMode; profile: boolean; target: 'wasm' | 'c'; json?: boolean }, cmd: Command) => {
      // The cost model behind --kernel auto is fitted to CSR kernels: its table-driven matrices use csr16 unless --format says otherwise.
      if (o.kernel === 'auto' && cmd.getOptionValueSource('format') !== 'cli') o.format = 'csr16';
      const board = o.kernel === 'auto' ? loadBoard(o.board) : undefined;
      if (o.target === 'c') {
        if (o.profile) throw new SparrowError('--profile applies to the wasm target; the C target has no counters');
        const result = compileCToDirectory(modelPath, o.out, { kernel: o.kernel, board, mode: o.kernel === 'auto' ? 'native' : o.mode });
        print(!!o.json, { files: result.files, kernels: result.kernels }, () => result.summary);
        return;
      }
      const result = compileToDirectory(modelPath, o.out, { goldenSteps: o.goldenSteps, goldenSeed: o.goldenSeed, wasmOpt: o.wasmOpt, format: o.format, kernel: o.kernel, board, mode: o.mode, profile: o.profile });
      print(!!o.json, result.manifest, () => result.summary);
    });

  program
    .command('run')
    .description('stream a [T, d_in] sequence through a firmware (or a model, compiled in memory)')
    .argument('<firmware>', 'firmware.wasm or model .safetensors')
    .requiredOption('-i, --input <file>', 'input sequence (.npy or .csv), shape [T, d_in]')
    .option('-o, --output <file>', 'write outputs [T, d_out] to .npy or .csv (default: CSV on stdout)')
    .option('--raw', 'integer firmware: the input holds int16 values and the output is int16 (no scaling)', false)
    .option('--counters', 'a --profile integer firmware: print its op counters for the run (total and per step) on stderr', false)
    .action((target: string, o: { input: string; output?: string; raw: boolean; counters: boolean }) => {
      const wasm = target.endsWith('.wasm') ? readFirmware(target) : compileInMemory(target, { wasmOpt: false }).wasm;
      const runner = createRunner(wasm, target);
      if (o.counters) {
        readCounters(runner, target); // refuses a firmware without counters before the run
        runner.reset();
      }
      const seq = readSequence(o.input, runner.inputLen);
      const out = o.raw ? Float32Array.from(runner.runRaw(seq.data, seq.T)) : runner.run(seq.data, seq.T);
      if (o.output) writeSequence(o.output, out, seq.T, runner.outputLen);
      else process.stdout.write(formatSequenceCsv(out, seq.T, runner.outputLen));
      if (o.counters) {
        const rows = readCounters(runner, target).map((c) => [c.name, c.total.toLocaleString('en-US'), (c.total / seq.T).toLocaleString('en-US', { maximumFractionDigits: 2 })]);
        process.stderr.write(`op counters over ${seq.T} steps (docs/firmware-abi.md):\n${formatTable(['counter', 'total', 'per step'], rows)}\n`);
      }
    });

  const quantize = program
    .command('quantize')
    .description('w8a16 post-training quantization with power-of-two scales; prints per-layer and output SQNR')
    .argument('<model>', 'float model .safetensors')
    .requiredOption('-o, --out <file>', 'output quantized .safetensors')
    .option('--calib <file>', 'calibration inputs, a [T, d_in] .npy or .csv sequence')
    .option('--calib-random <steps>', 'calibrate on this many steps of N(0, 1) inputs instead', intArg(1, 10_000_000))
    .option('--per-channel', 'one scale per weight row instead of per matrix', false)
    .option('--seed <n>', 'seed of --calib-random', intArg(0, 2 ** 31 - 1), 0)
    .option('--json', 'machine-readable output');
  addTaskOptions(quantize, false);
  quantize.addHelpText('after', `\nWith --task, calibrates on the task's first ${CALIBRATION_EXAMPLES} training examples, as \`sparrow train --quantized\` does, and scores the result on its test split.`);
  quantize.action((modelPath: string, o: { out: string; calib?: string; calibRandom?: number; perChannel: boolean; seed: number; json?: boolean } & TaskCliOptions) => {
      const sources = [o.calib, o.calibRandom, o.task].filter((x) => x !== undefined).length;
      if (sources !== 1) throw new SparrowError('quantize: give exactly one of --calib <file>, --calib-random <steps> or --task <name>');
      let calibSet: CalibrationSet | undefined;
      let score: ((q: QuantModel) => number) | undefined;
      let metricName = '';
      if (o.task) {
        const task = makeTask(taskSpec(o));
        metricName = task.metricName;
        calibSet = { sequences: Array.from({ length: Math.min(CALIBRATION_EXAMPLES, task.size('train')) }, (_, i) => ({ data: task.example('train', i).inputs, T: task.T })) };
        score = (q) => {
          let last = 0;
          return scoreModel({ kind: 'quantized', model: q }, task, 'recurrent', Infinity, (done, total) => {
            const now = performance.now();
            if (o.json || (now - last < 5000 && done !== total)) return;
            last = now;
            process.stderr.write(`scoring the w8a16 model (integer reference): ${done}/${total}\n`);
          });
        };
      }
      const r = quantizeModelFile(modelPath, o.out, { ...o, ...(calibSet ? { calibSet, score } : {}) });
      print(!!o.json, r, () => [
        `wrote ${o.out} (w8a16: int8 weights, int16 activations and states, Q15 Λ, int32 accumulators)`,
        `SQNR against the float model on the ${r.sqnr.steps} calibration steps:`,
        formatTable(['after', 'SQNR (dB)'], [...r.sqnr.blocks.map((b) => [b.name, Number(b.sqnrDb.toFixed(1))]), ['output', Number(r.sqnr.outputDb.toFixed(1))]]),
        ...(r.metric !== undefined ? [`w8a16 model: ${metricName} ${r.metric.toFixed(2)} on the ${o.task} test split (integer reference; recorded in the file as test_metric)`] : []),
      ].join('\n'));
    });

  program
    .command('info')
    .description('layers, shapes, nonzeros and sparsity per tensor, bytes, MACs per step')
    .argument('<file>', 'model .safetensors or firmware .wasm')
    .option('--json', 'machine-readable output')
    .action((file: string, o: { json?: boolean }) => {
      const info = describeFile(file);
      print(!!o.json, info.json, () => info.text);
    });

  program
    .command('bundle')
    .description('firmware.wasm + C array + minimal WAMR host (main.c) + CMake snippet + manifest, for a device project')
    .argument('<model>', 'model .safetensors (float or quantized)')
    .requiredOption('-o, --out <dir>', 'output directory')
    .option('--board <name>', 'check the fit on a board profile (boards/<name>.json, or a path to one)')
    .option('--json', 'print the manifest as JSON')
    .action((modelPath: string, o: { out: string; board?: string; json?: boolean }) => {
      const r = bundleModel(modelPath, o.out, o.board);
      const w = r.manifest.wamr as { poolBytesEstimate: number; stackBytes: number; flashBytes: number };
      print(!!o.json, r.manifest, () => [
        `wrote ${r.files.map((f) => path.basename(f)).join(', ')} to ${o.out}`,
        `  flash ${formatBytes(w.flashBytes)}; WAMR pool ${formatBytes(w.poolBytesEstimate)} (estimate), exec stack ${formatBytes(w.stackBytes)}, app heap 0`,
        ...r.notes.map((n) => `  note: ${n}`),
        `  build: cmake -B build -DWAMR_ROOT=/path/to/wasm-micro-runtime ${o.out} && cmake --build build && ./build/sparrow_host 1000`,
      ].join('\n'));
    });

  program
    .command('check')
    .description('will this .wasm load and run on a WAMR execution mode? exit 0 only when clean')
    .argument('<firmware>', 'firmware .wasm')
    .addOption(new Option('--runtime <runtime>', 'WAMR execution mode').choices([...RUNTIMES]).default('wamr-classic'))
    .option('--json', 'machine-readable output')
    .action((file: string, o: { runtime: Runtime; json?: boolean }) => {
      const r = checkForRuntime(readFirmware(file), o.runtime);
      print(!!o.json, r, () => [
        `${file} on ${o.runtime}: ${r.problems.length === 0 ? 'clean' : `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`}`,
        ...r.problems.map((p) => `  problem: ${p}`),
        ...r.warnings.map((w) => `  note: ${w}`),
        `  memory ${r.memory ? `${r.memory.initialPages}..${r.memory.maximumPages ?? 'unbounded'} pages` : 'none'}, ${r.imports.length} imports, call depth ${r.callDepth}, interpreter stack ≤ ${r.stackBytesEstimate === undefined ? 'unbounded' : `${r.stackBytesEstimate} B (estimate: frame header + 8 B per local + 256 B operand headroom per frame)`}`,
      ].join('\n'));
      if (r.problems.length > 0) process.exitCode = 1;
    });

  program
    .command('random')
    .description('write a random stable model (seeded), e.g. for tests and benchmarks')
    .requiredOption('-o, --out <file>', 'output .safetensors')
    .option('--d-in <n>', 'input features', intArg(1, 65535), 1)
    .option('--d-model <n>', 'model width H', intArg(1, 65535), 32)
    .option('--d-state <n>', 'complex states P per layer', intArg(1, 65535), 32)
    .option('--d-out <n>', 'output features', intArg(1, 65535), 1)
    .option('--layers <n>', 'number of layers', intArg(1, 64), 2)
    .addOption(new Option('--act <act>', 'block activation').choices(['gelu', 'relu']).default('gelu'))
    .addOption(new Option('--encoder-act <act>', 'encoder activation').choices(['none', 'relu']).default('none'))
    .option('--gate', 'add the sigmoid gate (GLU-style) to each block', false)
    .option('--sma', 'with --gate: Sparse Modular Activation, a per-step decision from the SSM output whether each block\'s gate runs', false)
    .option('--sparsity <s>', 'fraction of zero matrix weights', numArg(0, 1, true), 0)
    .option('--seed <n>', 'random seed', intArg(0, 2 ** 31 - 1), 0)
    .option('--json', 'machine-readable output')
    .action((o: { out: string; dIn: number; dModel: number; dState: number; dOut: number; layers: number; act: 'gelu' | 'relu'; encoderAct: 'none' | 'relu'; gate: boolean; sma: boolean; sparsity: number; seed: number; json?: boolean }) => {
      if (o.sma && !o.gate) throw new SparrowError('random: --sma needs --gate (SMA decides per step whether the gate runs)');
      const model = randomModel({
        d_in: o.dIn, d_model: o.dModel, d_state: o.dState, d_out: o.dOut, n_layers: o.layers,
        act: o.act, encoder_act: o.encoderAct, gate: o.gate, sma: o.sma, sparsity: o.sparsity, seed: o.seed,
      });
      writeModel(o.out, model);
      wrote(!!o.json, o.out, model.config);
    });

  program
    .command('prune')
    .description('unstructured magnitude pruning of B, C, encoder, decoder and gate weights (Λ, D, norm and biases stay dense)')
    .argument('<model>', 'float model .safetensors')
    .requiredOption('-o, --out <file>', 'output .safetensors')
    .requiredOption('--sparsity <s>', `fraction of zero weights over the prunable matrices, 0 … ${MAX_SPARSITY}`, (v: string) => (v.trim() === '' ? NaN : Number(v)))
    .addOption(new Option('--distribution <d>', 'how the sparsity is spread over the matrices').choices([...DISTRIBUTIONS]).default('erk'))
    .addOption(new Option('--saliency <s>', 'how weights are ranked: magnitude (|w|), or balanced (B and C through the H2 gain of the state between them; docs/compression.md)').choices([...SALIENCIES]).default(DEFAULT_SALIENCY))
    .option('--json', 'machine-readable report')
    .action((modelPath: string, o: { out: string; sparsity: number; distribution: PruneDistribution; saliency: PruneSaliency; json?: boolean }) => {
      const { model, report } = pruneModel(readModel(modelPath), { sparsity: o.sparsity, distribution: o.distribution, saliency: o.saliency });
      writeModel(o.out, model);
      print(!!o.json, report, () => [
        `wrote ${o.out}: ${o.distribution} ${o.saliency} pruning, target ${(report.target * 100).toFixed(1)}%, achieved ${(report.achieved * 100).toFixed(2)}% over the prunable matrices`,
        formatTable(['matrix (complex B, C count once)', 'shape', 'kept', 'sparsity'], report.matrices.map((m) => [m.name, `[${m.shape.join(', ')}]`, m.kept, `${(m.sparsity * 100).toFixed(1)}%`])),
      ].join('\n'));
    });

  program
    .command('export')
    .description('rewrite a model file (with --dense: every matrix dense under its plain name)')
    .argument('<model>', 'model .safetensors')
    .requiredOption('-o, --out <file>', 'output .safetensors')
    .option('--dense', 'store every matrix dense', false)
    .option('--json', 'machine-readable output')
    .action((modelPath: string, o: { out: string; dense: boolean; json?: boolean }) => {
      const model = readModel(modelPath);
      writeModel(o.out, model, { dense: o.dense });
      wrote(!!o.json, o.out, model.config);
    });

  program
    .command('import')
    .description('import continuous-time S5 parameters (safetensors or npz), discretized with zero-order hold')
    .argument('<checkpoint>', 'S5 parameters (.safetensors or .npz); names in docs/import.md')
    .requiredOption('-o, --out <file>', 'output .safetensors')
    .addOption(new Option('--act <act>', 'block activation').choices(['gelu', 'relu']).default('gelu'))
    .addOption(new Option('--encoder-act <act>', 'encoder activation').choices(['none', 'relu']).default('none'))
    .option('--conj-sym', 'the checkpoint keeps P/2 conjugate-symmetric states (output 2·Re(C s)): fold the 2 into C', false)
    .option('--bn-eps <eps>', 'BatchNorm epsilon when folding running statistics', numArg(0, 1, true), 1e-5)
    .option('--json', 'machine-readable output')
    .action((file: string, o: { out: string; act: 'gelu' | 'relu'; encoderAct: 'none' | 'relu'; conjSym: boolean; bnEps: number; json?: boolean }) => {
      const model = importS5(readImportFile(file), file, { act: o.act, encoderAct: o.encoderAct, conjSym: o.conjSym, bnEps: o.bnEps });
      writeModel(o.out, model);
      wrote(!!o.json, o.out, model.config);
    });

  addExportOnnxCommand(program);
  addBenchCommand(program);
  addEmulateCommand(program);
  addPatchCommands(program);
  addTrainCommands(program);
  addTuneCommand(program);

  program
    .command('models')
    .description('table of the trained models in a directory (metric, nonzeros, MACs/step, firmware bytes, training time) and a metric-vs-MACs plot per task')
    .argument('[dir]', 'directory of models', 'models')
    .option('--svg <prefix>', 'write <prefix><task>.svg for each task: metric vs MACs per step, dense to sparse')
    .option('--json', 'machine-readable output')
    .action((dir: string, o: { svg?: string; json?: boolean }) => {
      const rows = collectModels(dir);
      const wrote: string[] = [];
      if (o.svg) {
        for (const task of [...new Set(rows.map((r) => r.task))]) {
          const file = `${o.svg}${task}.svg`;
          writeFileAtomic(file, paretoSvg(rows, task));
          wrote.push(file);
        }
      }
      print(!!o.json, { models: rows, wrote }, () => (rows.length ? modelsMarkdown(rows) : `no trained models in ${dir} (a float model with a task in its metadata)`) + wrote.map((f) => `\nwrote ${f}`).join(''));
    });

  program
    .command('demo')
    .description('compile the bundled example model, stream a signal through it, print latency, memory and outputs')
    .option('--model <file>', 'model to use', path.join(__dirname, '..', 'models', 'example-h64-p64-s90.safetensors'))
    .option('--steps <n>', 'time steps to stream', intArg(100, 10_000_000), 20000)
    .action((o: { model: string; steps: number }) => {
      process.stdout.write(runDemo(o.model, o.steps) + '\n');
    });

  return program;
}

function fail(e: unknown): never {
  if (e instanceof SparrowError) {
    process.stderr.write(`sparrow: ${e.message}\n`);
    process.exit(e.exitCode);
  }
  const err = e as Error;
  process.stderr.write(`sparrow: internal error: ${err.message.split('\n')[0]}${process.env.SPARROW_DEBUG ? '\n' + err.stack : ' (SPARROW_DEBUG=1 shows the stack)'}\n`);
  process.exit(70);
}

export function main(argv: string[]): void {
  const program = buildProgram();
  program.exitOverride((err) => {
    // commander already printed its one-line message (help and version exit 0).
    process.exit(err.exitCode);
  });
  // Some commands (bench) are async: every failure, sync or not, ends in fail().
  program.parseAsync(argv).catch(fail);
}

// A training worker thread runs this same file (host/train/pool.ts).
if (isTrainWorker()) runTrainWorker();
else if (require.main === module) main(process.argv);
