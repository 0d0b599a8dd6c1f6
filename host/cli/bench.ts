// ============================================================================
// `sparrow bench`: argument parsing, progress and output only; the work is in
// host/bench/bench.ts and the rendering in host/bench/report.ts.
// ============================================================================

import { Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { runBench, loadBenchModel, sweepModels, BenchModel } from '../bench/bench';
import { Board, listBoards, loadBoard } from '../bench/boards';
import { EXECUTION_MODES, ExecutionMode } from '../bench/cost';
import { benchHtml, benchMarkdown, benchText } from '../bench/report';
import { writeFileAtomic } from '../util/atomic';
import { SparrowError } from '../util/errors';
import { intArg } from './options';

/** --boards all | name,name | path/to/board.json,… */
export function parseBoards(spec: string): Board[] {
  if (spec === 'none') return [];
  const names = spec === 'all' ? listBoards() : spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new SparrowError(`--boards: no board named in "${spec}"; known boards: ${listBoards().join(', ')}`);
  return names.map((n) => loadBoard(n));
}

export function parseSparsities(spec: string): number[] {
  const list = spec.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
  if (list.length === 0 || list.some((s) => !(s >= 0 && s < 1))) throw new SparrowError(`--sparsities: each must be a number in [0, 1), got "${spec}"`);
  return list;
}

function parseModes(spec: string): ExecutionMode[] {
  const list = spec === 'all' ? [...EXECUTION_MODES] : spec.split(',').map((s) => s.trim());
  const bad = list.filter((m) => !(EXECUTION_MODES as readonly string[]).includes(m));
  if (bad.length > 0) throw new SparrowError(`--modes: unknown mode ${bad.join(', ')}; modes: ${EXECUTION_MODES.join(', ')}`);
  return list as ExecutionMode[];
}

interface BenchCliOptions {
  boards: string;
  modes: string;
  steps: number;
  warmup: number;
  rate?: number;
  json?: string | true;
  html?: string;
  markdown?: string | true;
  isa: boolean;
  peers: boolean;
  wasmOpt: boolean;
  sparsities: string;
  dModel: number;
  dState: number;
  layers: number;
}

/** A bar on a terminal; one plain line per unit of work otherwise (CI logs, pipes). */
function progress(): { update: (label: string, done: number, total: number) => void; stop: () => void } {
  if (!process.stderr.isTTY) {
    return { update: (label, done, total) => done < total && process.stderr.write(`bench [${done + 1}/${total}] ${label}\n`), stop: () => undefined };
  }
  const bar = new SingleBar({ stream: process.stderr, format: 'bench [{bar}] {value}/{total} {label}', barsize: 24, hideCursor: true, clearOnComplete: true });
  let started = false;
  return {
    update: (label, done, total) => {
      if (!started) bar.start(total, done, { label });
      started = true;
      bar.update(done, { label });
    },
    stop: () => started && bar.stop(),
  };
}

export function addBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('measured host latency (Node, native C, ONNX Runtime) and estimated per-board µs, µJ and fit of models; with no model, the reference sparsity sweep')
    .argument('[models...]', 'model files (.safetensors, float or quantized); none = random models at --sparsities')
    .option('--boards <list>', 'all, none, or comma-separated board names or board JSON paths', 'all')
    .option('--modes <list>', `execution modes to estimate: all or a list of ${EXECUTION_MODES.join(', ')}`, 'all')
    .option('--steps <n>', 'timed steps per firmware (≥ 10,000 for the recorded figures)', intArg(100, 10_000_000), 10000)
    .option('--warmup <n>', 'untimed steps before timing', intArg(0, 10_000_000), 1000)
    .option('--rate <Hz>', 'input sample rate: real-time load per board', (v: string) => {
      const n = Number(v);
      if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a positive rate in Hz, got "${v}"`);
      return n;
    })
    .option('--json [file]', 'write the whole report as JSON (to stdout without a file)')
    .option('--html <file>', 'write a self-contained HTML report with SVG charts')
    .option('--markdown [file]', 'write the Markdown section for docs/benchmarks.md (to stdout without a file)')
    .option('--isa', 'count Arm instructions of the C target on QEMU for each board core (arm-none-eabi-gcc, qemu-system-arm)', false)
    .option('--no-peers', 'skip the native C and ONNX Runtime peers')
    .option('--no-wasm-opt', 'time the firmware without the binaryen pass (faster to build)')
    .option('--sparsities <list>', 'without models: sparsities of the random sweep', '0,0.5,0.8,0.9,0.95')
    .option('--d-model <n>', 'without models: H', intArg(1, 4096), 128)
    .option('--d-state <n>', 'without models: P', intArg(1, 4096), 128)
    .option('--layers <n>', 'without models: layers', intArg(1, 64), 4)
    .addOption(new Option('--quiet', 'no progress output').default(false))
    .action(async (files: string[], o: BenchCliOptions & { quiet: boolean }) => {
      const boards = parseBoards(o.boards);
      const modes = parseModes(o.modes);
      const models: BenchModel[] = files.length > 0 ? files.map(loadBenchModel) : sweepModels(parseSparsities(o.sparsities), { dModel: o.dModel, dState: o.dState, layers: o.layers });
      const bar = o.quiet ? undefined : progress();
      let report;
      try {
        report = await runBench(models, { steps: o.steps, warmup: o.warmup, boards, modes, rateHz: o.rate, isa: o.isa, peers: { c: o.peers, onnx: o.peers }, wasmOpt: o.wasmOpt, onProgress: bar?.update });
      } finally {
        bar?.stop();
      }
      const command = `sparrow bench ${process.argv.slice(3).join(' ')}`.trim();
      const written: string[] = [];
      if (typeof o.json === 'string') written.push((writeFileAtomic(o.json, JSON.stringify(report, null, 2) + '\n'), o.json));
      if (o.html) written.push((writeFileAtomic(o.html, benchHtml(report)), o.html));
      if (typeof o.markdown === 'string') written.push((writeFileAtomic(o.markdown, benchMarkdown(report, command)), o.markdown));
      if (o.json === true) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else if (o.markdown === true) process.stdout.write(benchMarkdown(report, command));
      else process.stdout.write(benchText(report) + '\n' + written.map((f) => `wrote ${f}\n`).join(''));
    });
}
