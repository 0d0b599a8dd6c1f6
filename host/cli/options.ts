// ============================================================================
// Option parsers shared by every command: a bad number is rejected at parse
// time, and commander prints it as one line naming the option.
// ============================================================================

import { InvalidArgumentError } from 'commander';

/** An integer in [min, max]. */
export function intArg(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer in [${min}, ${max}], got "${value}"`);
    return n;
  };
}

/** A finite number in [min, max], or [min, max) with `exclusiveMax`. */
export function numArg(min: number, max: number, exclusiveMax = false) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || (exclusiveMax ? n >= max : n > max)) {
      throw new InvalidArgumentError(`expected a number in [${min}, ${max}${exclusiveMax ? ')' : ']'}, got "${value}"`);
    }
    return n;
  };
}
