// Test helper: assemble WebAssembly text with binaryen's wasm-as into bytes.

import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export function wat(text: string, flags: string[] = []): Uint8Array {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-wat-'));
  try {
    const input = path.join(dir, 'm.wat');
    const output = path.join(dir, 'm.wasm');
    fs.writeFileSync(input, text);
    execFileSync(process.execPath, [require.resolve('binaryen/bin/wasm-as'), input, '-o', output, ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
    return new Uint8Array(fs.readFileSync(output));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
