// ============================================================================
// `sparrow bench --isa`: instruction counts of the C target on Arm cores,
// cross-compiled with arm-none-eabi-gcc and run bare-metal on QEMU's M-profile
// machines with `-icount shift=0` (one instruction per virtual nanosecond).
// SysTick runs off the virtual clock, so it ticks once per fixed number of
// instructions; a calibration loop of known length (2 instructions per turn)
// gives that number, and the step loop is timed in ticks. Results print over
// semihosting. These are instruction counts, not cycles: cycles are estimated
// from them with a board's cycles per instruction (host/bench/cost.ts).
// ============================================================================

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { QMatrix, QuantModel } from '../model/quant';
import { emitC } from '../compile/c_target';
import { KernelStrategy } from '../compile/layout_i16';
import { quantizeModel } from '../compress/quantize';
import { randomModel } from '../model/random';
import { makeRng } from '../util/rng';
import { Features, fitInstructionWeights, stepFeatures } from './cost';

export interface QemuMachine {
  /** QEMU -M name. */
  machine: string;
  cpu: string;
  /** arm-none-eabi-gcc -mcpu. */
  mcpu: string;
  flash: { origin: number; length: number };
  ram: { origin: number; length: number };
  extraFlags?: string[];
}

/** Cores of sparrow's boards → QEMU machines (code at flash origin, RAM as each machine maps it). */
export const QEMU_MACHINES: Record<string, QemuMachine> = {
  'cortex-m4f': { machine: 'mps2-an386', cpu: 'cortex-m4', mcpu: 'cortex-m4', flash: { origin: 0x0, length: 4 << 20 }, ram: { origin: 0x20000000, length: 4 << 20 } },
  'cortex-m7': { machine: 'mps2-an500', cpu: 'cortex-m7', mcpu: 'cortex-m7', flash: { origin: 0x0, length: 4 << 20 }, ram: { origin: 0x20000000, length: 4 << 20 } },
  'cortex-m0plus': { machine: 'microbit', cpu: 'cortex-m0', mcpu: 'cortex-m0plus', flash: { origin: 0x0, length: 256 << 10 }, ram: { origin: 0x20000000, length: 16 << 10 } },
};

export function qemuTools(): { ok: true } | { ok: false; missing: string } {
  for (const [tool, pkg] of [['arm-none-eabi-gcc', 'gcc-arm-none-eabi libnewlib-arm-none-eabi'], ['qemu-system-arm', 'qemu-system-arm']]) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0) return { ok: false, missing: `${tool} not installed (Debian: apt-get install ${pkg})` };
  }
  return { ok: true };
}

const LINKER = (m: QemuMachine): string => `MEMORY { FLASH (rx) : ORIGIN = ${m.flash.origin}, LENGTH = ${m.flash.length}
         RAM (rwx)  : ORIGIN = ${m.ram.origin}, LENGTH = ${m.ram.length} }
ENTRY(Reset_Handler)
SECTIONS {
  .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) KEEP(*(.init)) KEEP(*(.fini)) . = ALIGN(4); } > FLASH
  .ARM.exidx : { *(.ARM.exidx*) } > FLASH
  __etext = .;
  .data : AT(__etext) { __data_start__ = .; *(.data*) . = ALIGN(4); __data_end__ = .; } > RAM
  .bss (NOLOAD) : { __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(4); __bss_end__ = .; } > RAM
  end = .; __end__ = .;
  __stack_top = ORIGIN(RAM) + LENGTH(RAM);
}
`;

const STARTUP = `#include <stdint.h>
extern uint32_t __stack_top, __etext, __data_start__, __data_end__;
extern void _start(void); /* newlib's crt0 (rdimon): zeroes .bss, sets up semihosting, calls main */
volatile uint32_t systick_wraps;
void Reset_Handler(void) {
  uint32_t *src = &__etext, *dst = &__data_start__;
  while (dst < &__data_end__) *dst++ = *src++;
  _start();
  for (;;) {}
}
void SysTick_Handler(void) { systick_wraps++; }
void Default_Handler(void) { for (;;) {} }
__attribute__((section(".vectors"), used)) void (*const vectors[16])(void) = {
  (void (*)(void))&__stack_top, Reset_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
  Default_Handler, 0, 0, 0, 0, Default_Handler, Default_Handler, 0, Default_Handler, SysTick_Handler,
};
`;

const MAIN = (steps: number): string => `#include <stdint.h>
#include <stdio.h>
#include "sparrow_model.h"
#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
extern volatile uint32_t systick_wraps;
static uint64_t ticks(void) {
  uint32_t w, v;
  do { w = systick_wraps; v = SYST_CVR; } while (w != systick_wraps);
  return (uint64_t)w * 0x1000000u + (0xFFFFFFu - v);
}
__attribute__((noinline)) static void spin(uint32_t n) {
  __asm volatile(".syntax unified\\n1: subs %0, %0, #1\\n bne 1b" : "+r"(n) : : "cc");
}
int main(void) {
  static int16_t in[SPARROW_D_IN], out[SPARROW_D_OUT];
  uint32_t seed = 12345;
  for (int j = 0; j < SPARROW_D_IN; j++) { seed = seed * 1664525u + 1013904223u; in[j] = (int16_t)((int32_t)(seed >> 20) - 2048); }
  SYST_RVR = 0xFFFFFF; SYST_CVR = 0; SYST_CSR = 7; /* processor clock, interrupt on wrap */
  spin(1000);
  uint64_t c0 = ticks(); spin(2000000); uint64_t c1 = ticks();
  sparrow_reset();
  sparrow_step(in, out);
  uint64_t t0 = ticks();
  for (int i = 0; i < ${steps}; i++) sparrow_step(in, out);
  uint64_t t1 = ticks();
  printf("calibration_ticks %lu\\nstep_ticks %lu\\nsteps %d\\nout0 %d\\n", (unsigned long)(c1 - c0), (unsigned long)(t1 - t0), ${steps}, out[0]);
  return 0;
}
`;

export interface IsaResult {
  machine: string;
  cpu: string;
  /** Instructions per SysTick tick, from the calibration loop. */
  instructionsPerTick: number;
  instructionsPerStep: number;
  steps: number;
  /** Bytes of .text+.rodata (code and const weights in flash) and .data+.bss (RAM) of the whole program. */
  flashBytes: number;
  ramBytes: number;
}

function sizes(elf: string): { flash: number; ram: number } {
  const r = spawnSync('arm-none-eabi-size', ['-A', elf]);
  const get = (name: string): number => Number(new RegExp(`^\\${name}\\s+(\\d+)`, 'm').exec(r.stdout.toString())?.[1] ?? 0);
  return { flash: get('.text') + get('.ARM.exidx') + get('.data'), ram: get('.data') + get('.bss') };
}

/** Cross-compile the model's C target for `core` and count its instructions per step on QEMU. */
export function runIsa(q: QuantModel, core: string, kernel: KernelStrategy | ((name: string, m: QMatrix) => KernelStrategy), steps = 20): IsaResult {
  const m = QEMU_MACHINES[core];
  if (!m) throw new Error(`no QEMU machine for core ${core}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-isa-'));
  try {
    const c = emitC(q, { kernel });
    fs.writeFileSync(path.join(dir, 'sparrow_model.h'), c.header);
    fs.writeFileSync(path.join(dir, 'sparrow_model.c'), c.source);
    fs.writeFileSync(path.join(dir, 'main.c'), MAIN(steps));
    fs.writeFileSync(path.join(dir, 'start.c'), STARTUP);
    fs.writeFileSync(path.join(dir, 'link.ld'), LINKER(m));
    const elf = path.join(dir, 'prog.elf');
    const cc = spawnSync('arm-none-eabi-gcc', [`-mcpu=${m.mcpu}`, '-mthumb', '-O2', '-std=gnu99', '--specs=rdimon.specs', '-T', 'link.ld', 'start.c', 'main.c', 'sparrow_model.c', '-o', elf, '-Wl,--gc-sections', '-ffunction-sections', '-fdata-sections'], { cwd: dir });
    if (cc.status !== 0) {
      const over = /region `(FLASH|RAM)' overflowed by (\d+) bytes/.exec(cc.stderr.toString());
      if (over) throw new Error(`the program does not fit ${m.machine}'s ${over[1] === 'FLASH' ? `${m.flash.length >> 10} KiB flash` : `${m.ram.length >> 10} KiB RAM`} (over by ${Number(over[2]).toLocaleString('en-US')} bytes)`);
      throw new Error(`arm-none-eabi-gcc failed: ${cc.stderr.toString().trim().split('\n').slice(0, 3).join(' | ')}`);
    }
    const run = spawnSync('qemu-system-arm', ['-M', m.machine, '-cpu', m.cpu, '-nographic', '-monitor', 'none', '-serial', 'none', '-semihosting-config', 'enable=on,target=native', '-icount', 'shift=0', '-kernel', elf, ...(m.extraFlags ?? [])], { timeout: 120_000 });
    const text = run.stdout.toString();
    const field = (k: string): number => Number(new RegExp(`^${k} (-?\\d+)`, 'm').exec(text)?.[1]);
    const calib = field('calibration_ticks');
    const stepTicks = field('step_ticks');
    if (run.status !== 0 || !(calib > 0) || !(stepTicks >= 0)) throw new Error(`qemu-system-arm -M ${m.machine} did not report (exit ${run.status}): ${(run.stderr.toString() || text).trim().split('\n')[0]}`);
    const perTick = 4000000 / calib; // spin(2e6): subs + bne per turn
    const sz = sizes(elf);
    return { machine: m.machine, cpu: m.cpu, instructionsPerTick: perTick, instructionsPerStep: (stepTicks * perTick) / steps, steps, flashBytes: sz.flash, ramBytes: sz.ram };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The calibration set behind host/bench/cost.ts's instruction weights: 14 random models
 * (H, P from 8 to 128 — 8 to 48 on the 16 KiB-RAM microbit — 1–3 layers, sparsity 0–0.95,
 * gate and GELU alternating), each in both strategies where the unrolled C stays under
 * 14,000 weights (gcc's time grows fast with straight-line code), measured on QEMU.
 */
export function calibrationSamples(core: string, onProgress?: (done: number, total: number) => void): { features: Features; instructions: number }[] {
  const rng = makeRng(1234);
  const big = core === 'cortex-m0plus' ? 40 : 120;
  const out: { features: Features; instructions: number }[] = [];
  for (let i = 0; i < 14; i++) {
    onProgress?.(i, 14);
    const H = 8 + rng.int(big);
    const P = 8 + rng.int(big);
    const m = randomModel({ d_in: 1 + rng.int(16), d_model: H, d_state: P, d_out: 1 + rng.int(16), n_layers: 1 + (i % 3), act: i % 2 ? 'relu' : 'gelu', encoder_act: 'none', gate: i % 4 < 2, sparsity: [0, 0.5, 0.8, 0.9, 0.95][i % 5], seed: 100 + i });
    const q = quantizeModel(m, { sequences: [{ data: Float64Array.from({ length: 100 * m.config.d_in }, () => rng.normal()), T: 100 }] });
    for (const k of ['csr', 'unrolled'] as const) {
      const table = stepFeatures(q, () => 'csr');
      if (k === 'unrolled' && table.tableNnz + table.denseWeights > 14000) continue;
      out.push({ features: stepFeatures(q, () => k), instructions: runIsa(q, core, k, 10).instructionsPerStep });
    }
  }
  return out;
}

export function calibrateIsa(core: string, onProgress?: (done: number, total: number) => void): Features {
  return fitInstructionWeights(calibrationSamples(core, onProgress));
}
