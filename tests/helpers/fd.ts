// Central finite differences, the independent definition the hand-written gradients are checked against.

/** (f(v + h) − f(v − h)) / 2h with respect to value[i]; value[i] is restored. */
export function centralDifference(value: Float64Array, i: number, h: number, f: () => number): number {
  const old = value[i];
  value[i] = old + h;
  const up = f();
  value[i] = old - h;
  const down = f();
  value[i] = old;
  return (up - down) / (2 * h);
}
