// ============================================================================
// Linker step for generated code: replace the body of one exported placeholder
// function and append new functions after all existing ones.
//
// Appending keeps every existing function index valid, so no call or element
// needs renumbering; only the type, function, export and code sections are
// re-encoded, the rest is copied byte for byte. The placeholder's export is
// dropped. The compiler links after wasm-opt, so the bodies stay as generated.
// ============================================================================

import { FuncType, SECTION, parseModule } from './binary';
import { WasmError, encodeU32 } from './leb128';

export interface GeneratedFunction {
  params: ('i32' | 'i64')[];
  results: ('i32' | 'i64')[];
  /** Local declarations after the parameters, e.g. [{ count: 1, type: 'i32' }]. */
  locals: { count: number; type: 'i32' | 'i64' }[];
  /** Instructions including the final `end` (0x0b). */
  code: Uint8Array;
}

export interface FunctionPatch {
  /** Export naming the placeholder; its body is replaced with `body` and the export removed. */
  placeholder: string;
  /** New body of the placeholder (same signature); may call appended function i as index firstNew + i. */
  body: (firstNew: number) => GeneratedFunction;
  functions: GeneratedFunction[];
}

const VALTYPE: Record<string, number> = { i32: 0x7f, i64: 0x7e };

function fail(problem: string): never {
  throw new WasmError(`wasm: link: ${problem}`);
}

function sameType(a: FuncType, params: string[], results: string[]): boolean {
  return a.params.length === params.length && a.results.length === results.length && a.params.every((p, i) => p === params[i]) && a.results.every((r, i) => r === results[i]);
}

function bodyBytes(f: GeneratedFunction): Uint8Array {
  const head = [...encodeU32(f.locals.length)];
  for (const l of f.locals) head.push(...encodeU32(l.count), VALTYPE[l.type]);
  const size = head.length + f.code.length;
  const out = new Uint8Array(encodeU32(size).length + size);
  const prefix = encodeU32(size);
  out.set(prefix, 0);
  out.set(head, prefix.length);
  out.set(f.code, prefix.length + head.length);
  return out;
}

function section(id: number, payload: Uint8Array[]): Uint8Array {
  const n = payload.reduce((s, p) => s + p.length, 0);
  return concat([Uint8Array.from([id, ...encodeU32(n)]), ...payload]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function patchFunctions(bytes: Uint8Array, patch: FunctionPatch): Uint8Array {
  const mod = parseModule(bytes);
  const exp = mod.exports.find((e) => e.name === patch.placeholder && e.kind === 'func');
  if (!exp) fail(`no exported function '${patch.placeholder}' to replace`);
  const defined = exp.index - mod.importedFunctionCount;
  if (defined < 0) fail(`'${patch.placeholder}' is imported; it must be defined`);
  const placeholderType = mod.types[mod.functions[defined]];
  const firstNew = mod.importedFunctionCount + mod.functions.length;
  const replacement = patch.body(firstNew);
  if (!sameType(placeholderType, replacement.params, replacement.results)) fail(`replacement body of '${patch.placeholder}' has another signature`);

  // Types: reuse an identical one, else append.
  const types = mod.types.slice();
  const newTypes: Uint8Array[] = [];
  const typeIndex = (f: GeneratedFunction): number => {
    const found = types.findIndex((t) => sameType(t, f.params, f.results));
    if (found >= 0) return found;
    types.push({ params: f.params, results: f.results });
    newTypes.push(Uint8Array.from([0x60, ...encodeU32(f.params.length), ...f.params.map((p) => VALTYPE[p]), ...encodeU32(f.results.length), ...f.results.map((r) => VALTYPE[r])]));
    return types.length - 1;
  };
  const appendedTypes = patch.functions.map(typeIndex);

  const out: Uint8Array[] = [bytes.subarray(0, 8)];
  for (const s of mod.sections) {
    const payload = bytes.subarray(s.start, s.end);
    if (s.id === SECTION.type) {
      const r = payload; // count, then the entries verbatim
      const oldCount = mod.types.length;
      const countLen = encodeU32(oldCount).length;
      out.push(section(SECTION.type, [Uint8Array.from(encodeU32(types.length)), r.subarray(countLen), ...newTypes]));
    } else if (s.id === SECTION.function) {
      const all = [...mod.functions, ...appendedTypes];
      out.push(section(SECTION.function, [Uint8Array.from(encodeU32(all.length)), ...all.map((t) => Uint8Array.from(encodeU32(t)))]));
    } else if (s.id === SECTION.export) {
      const kept = mod.exports.filter((e) => e !== exp);
      const KIND: Record<string, number> = { func: 0, table: 1, memory: 2, global: 3, tag: 4 };
      const enc = new TextEncoder();
      out.push(
        section(SECTION.export, [
          Uint8Array.from(encodeU32(kept.length)),
          ...kept.map((e) => {
            const name = enc.encode(e.name);
            return Uint8Array.from([...encodeU32(name.length), ...name, KIND[e.kind], ...encodeU32(e.index)]);
          }),
        ]),
      );
    } else if (s.id === SECTION.code) {
      const bodies = mod.codes.map((c, i) => {
        if (i === defined) return bodyBytes(replacement);
        const size = c.end - c.start;
        return concat([Uint8Array.from(encodeU32(size)), bytes.subarray(c.start, c.end)]);
      });
      out.push(section(SECTION.code, [Uint8Array.from(encodeU32(bodies.length + patch.functions.length)), ...bodies, ...patch.functions.map(bodyBytes)]));
    } else {
      out.push(bytes.subarray(s.headerStart, s.end));
    }
  }
  const result = concat(out);
  parseModule(result);
  return result;
}

/**
 * Replace the bodies of defined functions (by index among the defined functions, imports not
 * counted) with generated ones of the same signature; only the code section is re-encoded,
 * with the same minimal size prefixes patchFunctions writes. A firmware patch rewrites the
 * weights-in-code functions of a matrix this way (host/patch/apply.ts).
 */
export function replaceFunctionBodies(bytes: Uint8Array, bodies: Map<number, GeneratedFunction>): Uint8Array {
  const mod = parseModule(bytes);
  for (const [i, f] of bodies) {
    if (!Number.isInteger(i) || i < 0 || i >= mod.codes.length) fail(`no defined function ${i} to replace`);
    if (!sameType(mod.types[mod.functions[i]], f.params, f.results)) fail(`replacement body of function ${mod.importedFunctionCount + i} has another signature`);
  }
  const out: Uint8Array[] = [bytes.subarray(0, 8)];
  for (const s of mod.sections) {
    if (s.id !== SECTION.code) {
      out.push(bytes.subarray(s.headerStart, s.end));
      continue;
    }
    const encoded = mod.codes.map((c, i) => {
      const f = bodies.get(i);
      return f ? bodyBytes(f) : concat([Uint8Array.from(encodeU32(c.end - c.start)), bytes.subarray(c.start, c.end)]);
    });
    out.push(section(SECTION.code, [Uint8Array.from(encodeU32(encoded.length)), ...encoded]));
  }
  const result = concat(out);
  parseModule(result);
  return result;
}
