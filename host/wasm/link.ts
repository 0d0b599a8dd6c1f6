// ============================================================================
// WebAssembly linker step: fix a module's memory size and add data segments.
//
// sparrow's engine is compiled once; each model becomes firmware by giving the
// engine's single memory an exact, fixed size (min = max, so the runtime can
// reserve it up front and memory.grow can never succeed) and appending the
// model's weights as active data segments. Only the memory, data and datacount
// sections are re-encoded; every other section is copied byte for byte, so
// code offsets, names and custom sections stay exactly as the compiler left
// them.
// ============================================================================

import { DataSegment, SECTION, WASM_PAGE_BYTES, WasmModule, parseModule } from './binary';
import { WasmError, encodeS32, encodeU32 } from './leb128';

export interface NewDataSegment {
  /** Start address in memory 0. */
  offset: number;
  data: Uint8Array;
}

export interface MemoryAndData {
  /** Memory size in 64 KiB pages; becomes both minimum and maximum. */
  pages: number;
  /** Active segments appended after the module's own, in this order. */
  segments: NewDataSegment[];
  /**
   * Keep only the module's first `keepSegments` data segments (default: all). A firmware
   * patch relinks a firmware this way: the engine's segments stay, the model's are replaced.
   */
  keepSegments?: number;
}

/** Largest page count of a 32-bit memory (4 GiB). */
const MAX_PAGES = 65536;

function linkError(problem: string): never {
  throw new WasmError(`wasm: link: ${problem}`);
}

function range(start: number, end: number): string {
  return `[0x${start.toString(16)}, 0x${end.toString(16)})`;
}

/**
 * Returns a new module whose (single, defined) memory has min = max = `pages`
 * and whose data section holds its existing segments followed by `segments`.
 * A missing data section is created after the last non-custom section; an
 * existing datacount section is updated, an absent one stays absent.
 *
 * Rejects: an imported memory, no memory or several, shared/64-bit/custom-page
 * memories, a segment past pages·64 KiB (new ones, and existing ones with a
 * constant offset), and a new segment overlapping an existing active segment
 * of memory 0 with a constant offset or another new segment. Existing segments
 * whose offset is not constant (e.g. `global.get`) cannot be checked.
 */
export function setMemoryAndData(bytes: Uint8Array, opts: MemoryAndData): Uint8Array {
  const mod = parseModule(bytes);
  const { pages, segments } = opts;
  const keep = opts.keepSegments ?? mod.dataSegments.length;
  if (!Number.isInteger(keep) || keep < 0 || keep > mod.dataSegments.length) linkError(`cannot keep ${keep} of ${mod.dataSegments.length} data segments`);
  const kept = mod.dataSegments.slice(0, keep);

  const imported = mod.imports.find((i) => i.kind === 'memory');
  if (imported) linkError(`module imports its memory (${imported.module}.${imported.name}); firmware must define it`);
  if (mod.memories.length === 0) linkError('module has no memory');
  if (mod.memories.length > 1) linkError(`module has ${mod.memories.length} memories; expected one`);
  const mem = mod.memories[0];
  if (mem.shared || mem.memory64 || mem.pageSizeLog2 !== undefined) linkError('memory is shared, 64-bit or has a custom page size; expected a plain 32-bit memory');
  if (!Number.isInteger(pages) || pages < 0 || pages > MAX_PAGES) linkError(`bad page count ${pages}`);
  const limit = pages * WASM_PAGE_BYTES;

  checkSegments(kept, segments, limit);

  const dataSection = mod.sections.find((s) => s.id === SECTION.data);
  const total = kept.length + segments.length;
  const out: Uint8Array[] = [bytes.subarray(0, 8)];
  for (const s of mod.sections) {
    if (s.id === SECTION.memory) out.push(section(SECTION.memory, [...encodeU32(1), 0x01, ...encodeU32(pages), ...encodeU32(pages)]));
    else if (s.id === SECTION.dataCount) out.push(section(SECTION.dataCount, encodeU32(total)));
    else if (s.id === SECTION.data) out.push(dataSectionBytes(mod, kept, segments, total));
    else out.push(bytes.subarray(s.headerStart, s.end));
  }
  if (dataSection === undefined) {
    // Data is last in the canonical order, so it goes right after the last non-custom section
    // (custom sections such as `name` that follow it stay after it).
    let at = 0;
    mod.sections.forEach((s, i) => {
      if (s.id !== SECTION.custom) at = i + 1;
    });
    out.splice(at + 1, 0, dataSectionBytes(mod, [], segments, total)); // +1: out[0] is the header
  }

  const result = concat(out);
  parseModule(result); // cheap self-check: what we hand out must at least parse
  return result;
}

function checkSegments(existing: DataSegment[], segments: NewDataSegment[], limit: number): void {
  const taken: { start: number; end: number; what: string }[] = [];
  existing.forEach((d, i) => {
    if (d.mode !== 'active' || d.memoryIndex !== 0 || d.offset === undefined) return;
    const end = d.offset + d.size;
    if (end > limit) linkError(`existing data segment ${i} at ${range(d.offset, end)} ends beyond ${limit / WASM_PAGE_BYTES} pages (${limit} bytes)`);
    taken.push({ start: d.offset, end, what: `existing data segment ${i}` });
  });
  segments.forEach((seg, i) => {
    const { offset } = seg;
    if (!Number.isInteger(offset) || offset < 0 || offset > 0xffffffff) linkError(`new data segment ${i} has bad offset ${offset}`);
    const end = offset + seg.data.length;
    if (end > limit) linkError(`new data segment ${i} at ${range(offset, end)} ends beyond ${limit / WASM_PAGE_BYTES} pages (${limit} bytes)`);
    if (end === offset) return; // empty: occupies nothing
    for (const t of taken) {
      if (offset < t.end && t.start < end) linkError(`new data segment ${i} at ${range(offset, end)} overlaps ${t.what} at ${range(t.start, t.end)}`);
    }
    taken.push({ start: offset, end, what: `new data segment ${i}` });
  });
}

/** count, the kept segments verbatim, then each new one as `0x00 i32.const offset end len bytes` (active, memory 0). */
function dataSectionBytes(mod: WasmModule, kept: DataSegment[], segments: NewDataSegment[], total: number): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.from(encodeU32(total))];
  if (kept.length > 0) parts.push(mod.bytes.subarray(kept[0].start, kept[kept.length - 1].end));
  for (const seg of segments) {
    // i32.const is signed: offsets ≥ 2^31 are written as their negative two's-complement twin.
    parts.push(Uint8Array.from([0x00, 0x41, ...encodeS32(seg.offset | 0), 0x0b, ...encodeU32(seg.data.length)]));
    parts.push(seg.data);
  }
  const payload = concat(parts);
  return concat([Uint8Array.from([SECTION.data, ...encodeU32(payload.length)]), payload]);
}

function section(id: number, payload: number[]): Uint8Array {
  return Uint8Array.from([id, ...encodeU32(payload.length), ...payload]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Zero runs: memory is zero-filled, so zeros need no data segment. This is
// what binaryen's --memory-packing does for active segments, done here so that
// the firmware's data segments are a function of the bytes alone and a patch
// can lay them out again exactly (host/patch/apply.ts).
// ---------------------------------------------------------------------------

/**
 * Zero runs longer than this are left out of the data section: a new active segment
 * costs 6–9 bytes (flags, i32.const offset, end, size).
 */
export const MAX_KEPT_ZERO_RUN = 8;

/**
 * Each segment without its leading and trailing zeros, split at every run of more than
 * MAX_KEPT_ZERO_RUN zero bytes. The pieces cover every nonzero byte; what they leave out
 * is zero in a zero-filled memory. Depends only on the offsets and bytes.
 */
export function packSegments(segments: NewDataSegment[]): NewDataSegment[] {
  const out: NewDataSegment[] = [];
  for (const { offset, data } of segments) {
    let i = 0;
    while (i < data.length) {
      while (i < data.length && data[i] === 0) i++;
      if (i === data.length) break;
      const start = i;
      let end = i; // one past the last nonzero byte of this piece
      let zeros = 0;
      for (; i < data.length && zeros <= MAX_KEPT_ZERO_RUN; i++) {
        if (data[i] !== 0) {
          end = i + 1;
          zeros = 0;
        } else zeros++;
      }
      out.push({ offset: offset + start, data: data.subarray(start, end) });
      i = end;
    }
  }
  return out;
}
