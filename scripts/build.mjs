// Build: the firmware engines (AssemblyScript → build/engine-f32.wasm and
// build/engine-i16.wasm) and the bundled CLI (dist/sparrow.cjs + the engines).
// An engine is rebuilt only when a file in assembly/ is newer than it.
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

function newestSource(dir) {
  return Math.max(...readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs), statSync(new URL(import.meta.url).pathname).mtimeMs);
}

mkdirSync(join(root, 'build'), { recursive: true });
for (const { source, out, flags = [] } of engines) {
  if (existsSync(out) && statSync(out).mtimeMs >= newestSource(join(root, 'assembly'))) continue;
  const { error, stderr } = await asc.main([join(root, 'assembly', source), '-o', out, ...ENGINE_FLAGS, ...flags]);
  if (error) {
    console.error(stderr.toString());
    console.error(`build: asc failed on ${source}: ${error.message}`);
    process.exit(1);
  }
  console.log(`build: ${out} (${statSync(out).size} bytes)`);
}

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
for (const { out } of engines) copyFileSync(out, join(root, 'dist', out.split('/').pop()));
chmodSync(join(root, 'dist', 'sparrow.cjs'), 0o755);
