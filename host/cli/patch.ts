// ============================================================================
// `sparrow diff` and `sparrow patch`: firmware updates that carry only the
// values a fine-tune changed (host/patch/, docs/deploy.md). Argument parsing
// and output only.
// ============================================================================

import { Command, Option } from 'commander';
import { loadBoard } from '../bench/boards';
import { EXECUTION_MODES, ExecutionMode } from '../bench/cost';
import { SPARSE_FORMATS, SparseFormat } from '../compress/formats';
import { diffToFile, patchToFile } from '../patch/files';
import { SparrowError } from '../util/errors';
import { intArg } from './options';

interface DiffCliOptions {
  out: string;
  firmware?: string;
  goldenSteps: number;
  goldenSeed: number;
  wasmOpt: boolean;
  format: SparseFormat | 'auto';
  kernel: 'csr' | 'unrolled' | 'auto';
  board: string;
  mode: ExecutionMode;
  profile: boolean;
  json?: boolean;
}

/** The build options of `sparrow compile`, which describe the base firmware when no --firmware is given. */
const BUILD_OPTIONS = ['goldenSteps', 'goldenSeed', 'wasmOpt', 'format', 'kernel', 'board', 'mode', 'profile'] as const;

export function addPatchCommands(program: Command): void {
  program
    .command('diff')
    .description('write a firmware patch: the values a tuned model changed against its base (same scales and sparsity pattern), bound to the base firmware by its SHA-256')
    .argument('<base>', 'the quantized model the deployed firmware was compiled from (.safetensors)')
    .argument('<tuned>', 'the tuned quantized model (.safetensors)')
    .requiredOption('-o, --out <file>', 'the patch file to write')
    .option('--firmware <file>', 'the deployed base firmware.wasm (it must hold <base>); without it, <base> is compiled with the build options below')
    .option('--golden-steps <n>', 'build option: input steps embedded for selftest()', intArg(16, 100000), 16)
    .option('--golden-seed <n>', 'build option: seed of the golden inputs', intArg(0, 2 ** 31 - 1), 1)
    .option('--no-wasm-opt', 'build option: skip the binaryen wasm-opt pass')
    .addOption(new Option('--format <format>', 'build option: sparse format of table-driven matrices').choices(['auto', ...SPARSE_FORMATS]).default('auto'))
    .addOption(new Option('--kernel <strategy>', 'build option: csr, unrolled (weights in code) or auto (per matrix, for --board)').choices(['csr', 'unrolled', 'auto']).default('csr'))
    .option('--board <name>', 'build option, with --kernel auto: the board', 'stm32f767')
    .addOption(new Option('--mode <mode>', 'build option, with --kernel auto: execution mode on the board').choices(EXECUTION_MODES).default('wamr-aot'))
    .option('--profile', 'build option: the op-counting variant', false)
    .option('--json', 'machine-readable report')
    .action((basePath: string, tunedPath: string, o: DiffCliOptions, cmd: Command) => {
      const given = BUILD_OPTIONS.filter((k) => cmd.getOptionValueSource(k) === 'cli');
      if (o.firmware && given.length > 0) throw new SparrowError(`diff: --firmware is the base as built; drop the build options (${given.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')})`);
      // As in `sparrow compile`: --kernel auto's cost model is fitted to csr16 tables unless --format says otherwise.
      const format = o.kernel === 'auto' && !given.includes('format') ? 'csr16' : o.format;
      const compile = { goldenSteps: o.goldenSteps, goldenSeed: o.goldenSeed, wasmOpt: o.wasmOpt, format, kernel: o.kernel, board: o.kernel === 'auto' ? loadBoard(o.board) : undefined, mode: o.mode, profile: o.profile };
      const r = diffToFile(basePath, tunedPath, o.out, { firmware: o.firmware, compile });
      process.stdout.write((o.json ? JSON.stringify(r.report, null, 2) : r.summary) + '\n');
    });

  program
    .command('patch')
    .description('apply a firmware patch (sparrow diff): the result is byte for byte the firmware of the tuned model; refuses another base firmware or a damaged patch')
    .argument('<firmware>', 'the base firmware.wasm the patch was made for')
    .argument('<patch>', 'the patch file')
    .requiredOption('-o, --out <file>', 'the patched firmware.wasm to write')
    .option('--json', 'machine-readable report')
    .action((firmwarePath: string, patchPath: string, o: { out: string; json?: boolean }) => {
      const r = patchToFile(firmwarePath, patchPath, o.out);
      process.stdout.write((o.json ? JSON.stringify(r.report, null, 2) : r.summary) + '\n');
    });
}
