// The part of the WebAssembly JS API sparrow uses. Node has it at run time; @types/node 20
// does not declare it, and TypeScript only ships it inside the DOM lib, which would bring
// hundreds of browser globals into a Node project.
declare namespace WebAssembly {
  interface ModuleImportDescriptor { module: string; name: string; kind: string }
  interface ModuleExportDescriptor { name: string; kind: string }
  class Module {
    constructor(bytes: BufferSource);
    static imports(module: Module): ModuleImportDescriptor[];
    static exports(module: Module): ModuleExportDescriptor[];
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
  }
  class RuntimeError extends Error {}
  class CompileError extends Error {}
}
type BufferSource = ArrayBufferView | ArrayBuffer;
