// ============================================================================
// Build the C target for the host with the system C compiler (tests, bench).
// Returns undefined when no compiler is installed, so callers can skip with a note.
// ============================================================================

import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { QuantModel } from '../model/quant';
import { SparrowError } from '../util/errors';
import { CTargetOptions, emitC, emitHostHarness } from './c_target';

export function findCompiler(): string | undefined {
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang']) {
    if (cc && spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0) return cc;
  }
  return undefined;
}

export interface NativeTiming {
  p50Us: number;
  p90Us: number;
  p99Us: number;
  meanUs: number;
  /** Two clock reads with nothing between (the floor every sample includes). */
  timerUs: number;
  samples: number;
  /** Compiler flags of the build. */
  flags: string[];
}

export interface HostProgram {
  exe: string;
  dir: string;
  /** int16 inputs [T, d_in] → int16 outputs [T, d_out]. */
  run(inputs: Int16Array): Int16Array;
  /** Each of `steps` steps timed alone after 1,000 warm-up steps (fresh input every step), and the timer's own cost. */
  bench(steps: number): NativeTiming;
  dispose(): void;
}

export function buildHostProgram(q: QuantModel, opts: CTargetOptions & { cflags?: string[] } = {}): HostProgram | undefined {
  const cc = findCompiler();
  if (!cc) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-c-'));
  const c = emitC(q, opts);
  fs.writeFileSync(path.join(dir, 'sparrow_model.h'), c.header);
  fs.writeFileSync(path.join(dir, 'sparrow_model.c'), c.source);
  fs.writeFileSync(path.join(dir, 'main.c'), emitHostHarness());
  const exe = path.join(dir, 'prog');
  const flags = opts.cflags ?? ['-O3', '-march=native'];
  try {
    execFileSync(cc, ['-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', ...flags, '-o', exe, 'main.c', 'sparrow_model.c'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = (e as { stderr?: Buffer }).stderr?.toString().trim().split('\n').slice(0, 3).join(' | ');
    throw new SparrowError(`C target failed to compile with ${cc}: ${err} (this is a sparrow bug; the sources are in ${dir})`);
  }
  return {
    exe,
    dir,
    run(inputs) {
      const r = spawnSync(exe, ['run'], { input: Buffer.from(inputs.buffer, inputs.byteOffset, inputs.byteLength), maxBuffer: 1 << 30 });
      if (r.status !== 0) throw new SparrowError(`C target program failed: ${r.stderr.toString().trim()}`);
      const out = new Uint8Array(r.stdout);
      return new Int16Array(out.buffer, out.byteOffset, out.byteLength / 2);
    },
    bench(steps) {
      const r = spawnSync(exe, ['bench', String(steps)]);
      if (r.status !== 0) throw new SparrowError(`C target program failed: ${r.stderr.toString().trim()}`);
      const text = r.stdout.toString();
      const field = (k: string): number => Number(new RegExp(`^${k} ([0-9.]+)`, 'm').exec(text)?.[1]) / 1000;
      return { p50Us: field('p50_ns'), p90Us: field('p90_ns'), p99Us: field('p99_ns'), meanUs: field('mean_ns'), timerUs: field('timer_ns'), samples: steps, flags };
    },
    dispose() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
