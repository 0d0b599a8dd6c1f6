// Build: the firmware engines (AssemblyScript → build/engine-f32.wasm and
// build/engine-i16.wasm), the trainer's host-side kernels (assembly-host/ →
// build/train-gemm.wasm) and the bundled CLI (dist/sparrow.cjs + all of them).
// A module is rebuilt only when a file in its source folder is newer than it.
import asc from 'assemblyscript/asc';
import * as esbuild from 'esbuild';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'fs';
import { join } from 'path';

const root = new URL('..', import.meta.url).pathname;
const engines = [
  { source: 'firmware_f32.ts', out: join(root, 'build', 'engine-f32.wasm') },
  { source: 'firmware_i16.ts', out: join(root, 'build', 'engine-i16.wasm'), flags: ['--use', 'SPARROW_PROFILE=0'] },
  // `sparrow compile --profile`: the same source with the op counters compiled in (assembly/profile.ts).
  { source: 'firmware_i16.ts', out: join(root, 'build', 'engine-i16-profile.wasm'), flags: ['--use', 'SPARROW_PROFILE=1'] },
];

/** Flags every firmware engine is built with; docs/firmware-abi.md explains each. */
export const ENGINE_FLAGS = [
  '-O3', '--noAssert',
  '--runtime', 'stub', // bump allocator that is never called: no allocation after start
  '--use', 'abort=', // no env.abort import: the firmware imports nothing
  '--disable', 'bulk-memory,nontrapping-f2i', // MVP + sign-ext only: every WAMR mode runs it
  '--memoryBase', '192', // engine static data just above the model header (host/compile/abi.ts)
  '--initialMemory', '1', '--maximumMemory', '1', // replaced by the linker with the model's pages
];

/**
 * Flags of the host-side kernels: these run in Node beside the CLI, never on a device,
 * so SIMD is on and the memory grows (host/train/gemm.ts copies operands into it).
 */
const HOST_KERNEL_FLAGS = ['-O3', '--noAssert', '--runtime', 'stub', '--use', 'abort=', '--enable', 'simd', '--initialMemory', '1'];
const hostKernels = [{ source: 'gemm_f64.ts', out: join(root, 'build', 'train-gemm.wasm') }];

function newestSource(dir) {
  return Math.max(...readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs), statSync(new URL(import.meta.url).pathname).mtimeMs);
}

async function buildModules(dir, modules, commonFlags) {
  for (const { source, out, flags = [] } of modules) {
    if (existsSync(out) && statSync(out).mtimeMs >= newestSource(dir)) continue;
    const { error, stderr } = await asc.main([join(dir, source), '-o', out, ...commonFlags, ...flags]);
    if (error) {
      console.error(stderr.toString());
      console.error(`build: asc failed on ${source}: ${error.message}`);
      process.exit(1);
    }
    console.log(`build: ${out} (${statSync(out).size} bytes)`);
  }
}

mkdirSync(join(root, 'build'), { recursive: true });
await buildModules(join(root, 'assembly'), engines, ENGINE_FLAGS);
await buildModules(join(root, 'assembly-host'), hostKernels, HOST_KERNEL_FLAGS);

mkdirSync(join(root, 'dist'), { recursive: true });
await esbuild.build({
  entryPoints: [join(root, 'host', 'cli', 'main.ts')],
  outfile: join(root, 'dist', 'sparrow.cjs'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['binaryen', 'onnxruntime-node'], // wasm-opt runs as a child process from node_modules; ONNX Runtime loads its native binding from there
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
for (const { out } of [...engines, ...hostKernels]) copyFileSync(out, join(root, 'dist', out.split('/').pop()));
chmodSync(join(root, 'dist', 'sparrow.cjs'), 0o755);
