// ============================================================================
// User-facing errors. Every failure a user can cause is a SparrowError: the CLI
// prints its one-line message and exits non-zero; anything else is a bug and
// still becomes one line (with SPARROW_DEBUG=1 for the stack).
// ============================================================================

export class SparrowError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'SparrowError';
    this.exitCode = exitCode;
  }
}

/** `<file>: <tensor>: <problem>` — the shape of every input error. */
export function inputError(file: string, what: string | undefined, problem: string): SparrowError {
  return new SparrowError(what ? `${file}: ${what}: ${problem}` : `${file}: ${problem}`);
}
