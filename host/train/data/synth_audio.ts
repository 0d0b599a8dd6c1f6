// ============================================================================
// Synthetic audio for the denoise task: speech-like clean signals and four
// coloured noises, every sample drawn from a caller's seeded Rng (so an
// example is a pure function of its seed).
//
//   clean   syllable-like segments separated by silences (20–250 ms). A
//           segment (80–400 ms) is, 3 times in 4, voiced: a fundamental gliding
//           log-linearly between two pitches in 100–300 Hz with 4–7 Hz vibrato
//           (≤ 2 %), up to 12 harmonics below 0.45·fs with amplitudes h^−β,
//           β ∈ [0.7, 1.8]; otherwise a chirp: one tone gliding exponentially
//           between two frequencies in 200 Hz–0.35·fs, with a 0.3 second
//           harmonic. Each segment has a raised-cosine attack (5–40 ms) and
//           release (20–100 ms) and a level within 12 dB of the loudest.
//   white   independent N(0, 1) samples: flat spectrum.
//   pink    Voss–McCartney: 16 rows of held N(0, 1) values, row r redrawn every
//           2^r samples, plus a white row; ≈ 1/f (−3 dB/octave) from fs/2^17 up
//           to a few kHz.
//   brown   integrated white noise, high-passed to stay bounded: together the
//           leaky integrator b[n] = ρ·b[n−1] + w[n], ρ = e^{−2π·20 Hz/fs};
//           ≈ 1/f² (−6 dB/octave) above 20 Hz, started in its steady state.
//   babble  3–6 other clean signals, each at unit power, with gains within
//           6 dB of each other: overlapping "talkers".
//
// Cost: two Math.sin/cos per voiced sample and a recurrence per harmonic
// (sin((h+1)φ) = 2·cos φ·sin(hφ) − sin((h−1)φ)); ≈ 0.3 ms per second of
// clean signal at 16 kHz, babble ≈ 4× that.
// ============================================================================

import { Rng } from '../../util/rng';

export type NoiseType = 'white' | 'pink' | 'brown' | 'babble';
export const NOISE_TYPES: readonly NoiseType[] = ['white', 'pink', 'brown', 'babble'];

const MAX_HARMONICS = 12;
const PINK_ROWS = 16;
const BROWN_CORNER_HZ = 20;

/** Uniform in [lo, hi). */
function between(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.uniform();
}

/** Raised-cosine attack and release gain at sample n of a len-sample segment. */
function envelope(n: number, len: number, attack: number, release: number): number {
  if (n < attack) return 0.5 - 0.5 * Math.cos((Math.PI * n) / attack);
  const fromEnd = len - 1 - n;
  if (fromEnd < release) return 0.5 - 0.5 * Math.cos((Math.PI * fromEnd) / release);
  return 1;
}

interface Segment {
  start: number;
  len: number;
  level: number;
  attack: number;
  release: number;
}

function drawEnvelope(rng: Rng, sampleRate: number, seg: Segment): void {
  let attack = between(rng, 0.005, 0.04) * sampleRate;
  let release = between(rng, 0.02, 0.1) * sampleRate;
  const squeeze = Math.min(1, seg.len / (attack + release));
  attack = Math.max(1, attack * squeeze);
  release = Math.max(1, release * squeeze);
  seg.attack = attack;
  seg.release = release;
}

/** A harmonic tone with a gliding, vibrato-modulated fundamental, added into out. */
function addVoiced(rng: Rng, sampleRate: number, out: Float64Array, seg: Segment): void {
  const f0Start = between(rng, 100, 300);
  const f0End = between(rng, 100, 300);
  const vibratoHz = between(rng, 4, 7);
  const vibratoDepth = between(rng, 0, 0.02);
  const tilt = between(rng, 0.7, 1.8);
  const f0Max = Math.max(f0Start, f0End) * (1 + vibratoDepth);
  const harmonics = Math.max(1, Math.min(MAX_HARMONICS, Math.floor((0.45 * sampleRate) / f0Max)));
  const amplitude = new Float64Array(harmonics + 1);
  let power = 0;
  for (let h = 1; h <= harmonics; h++) {
    amplitude[h] = h ** -tilt;
    power += amplitude[h] * amplitude[h];
  }
  const norm = seg.level / Math.sqrt(power / 2); // unit-RMS tone × level
  for (let h = 1; h <= harmonics; h++) amplitude[h] *= norm;

  const glide = (f0End / f0Start) ** (1 / seg.len);
  // Vibrato as a rotating phasor: no trig per sample for it.
  const vStep = (2 * Math.PI * vibratoHz) / sampleRate;
  const vCos = Math.cos(vStep);
  const vSin = Math.sin(vStep);
  let vRe = 1;
  let vIm = 0;
  let f0 = f0Start;
  let phase = between(rng, 0, 2 * Math.PI);
  const radPerHz = (2 * Math.PI) / sampleRate;
  for (let n = 0; n < seg.len; n++) {
    const s1 = Math.sin(phase);
    const twoCos = 2 * Math.cos(phase);
    let sum = amplitude[1] * s1;
    let previous = 0;
    let current = s1;
    for (let h = 2; h <= harmonics; h++) {
      const next = twoCos * current - previous;
      previous = current;
      current = next;
      sum += amplitude[h] * next;
    }
    out[seg.start + n] += sum * envelope(n, seg.len, seg.attack, seg.release);
    phase += radPerHz * f0 * (1 + vibratoDepth * vIm);
    if (phase > 2 * Math.PI) phase -= 2 * Math.PI;
    f0 *= glide;
    const re = vRe * vCos - vIm * vSin;
    vIm = vRe * vSin + vIm * vCos;
    vRe = re;
  }
}

/** An exponential sweep with a 0.3 second harmonic, added into out. */
function addChirp(rng: Rng, sampleRate: number, out: Float64Array, seg: Segment): void {
  const fTop = 0.35 * sampleRate;
  const fStart = 200 * (fTop / 200) ** rng.uniform();
  const fEnd = 200 * (fTop / 200) ** rng.uniform();
  const glide = (fEnd / fStart) ** (1 / seg.len);
  const second = Math.max(fStart, fEnd) * 2 < 0.45 * sampleRate ? 0.3 : 0;
  const norm = seg.level / Math.sqrt((1 + second * second) / 2);
  let f = fStart;
  let phase = between(rng, 0, 2 * Math.PI);
  const radPerHz = (2 * Math.PI) / sampleRate;
  for (let n = 0; n < seg.len; n++) {
    const tone = Math.sin(phase) + second * Math.sin(2 * phase);
    out[seg.start + n] += norm * tone * envelope(n, seg.len, seg.attack, seg.release);
    phase += radPerHz * f;
    if (phase > 2 * Math.PI) phase -= 2 * Math.PI;
    f *= glide;
  }
}

/** Fill `out` with a speech-like clean signal (at least one segment; arbitrary level). */
export function cleanSignal(rng: Rng, sampleRate: number, out: Float64Array): void {
  out.fill(0);
  const L = out.length;
  let start = Math.floor(rng.uniform() * Math.min(0.15 * sampleRate, L / 4));
  while (start < L) {
    const len = Math.min(L - start, Math.max(2, Math.round(between(rng, 0.08, 0.4) * sampleRate)));
    const seg: Segment = { start, len, level: 10 ** (-between(rng, 0, 12) / 20), attack: 1, release: 1 };
    drawEnvelope(rng, sampleRate, seg);
    if (rng.uniform() < 0.75) addVoiced(rng, sampleRate, out, seg);
    else addChirp(rng, sampleRate, out, seg);
    start += len + Math.round(between(rng, 0.02, 0.25) * sampleRate);
  }
}

function whiteNoise(rng: Rng, out: Float64Array): void {
  for (let n = 0; n < out.length; n++) out[n] = rng.normal();
}

function pinkNoise(rng: Rng, out: Float64Array): void {
  const rows = new Float64Array(PINK_ROWS);
  let running = 0;
  for (let r = 0; r < PINK_ROWS; r++) {
    rows[r] = rng.normal();
    running += rows[r];
  }
  // A random start of the counter so row updates do not align with sample 0.
  let counter = rng.int(1 << PINK_ROWS);
  for (let n = 0; n < out.length; n++) {
    counter = (counter + 1) >>> 0;
    const row = 31 - Math.clz32(counter & -counter); // trailing zeros
    if (row < PINK_ROWS) {
      running -= rows[row];
      rows[row] = rng.normal();
      running += rows[row];
    }
    out[n] = running + rng.normal();
  }
}

function brownNoise(rng: Rng, sampleRate: number, out: Float64Array): void {
  const rho = Math.exp((-2 * Math.PI * BROWN_CORNER_HZ) / sampleRate);
  let b = rng.normal() / Math.sqrt(1 - rho * rho); // stationary start
  for (let n = 0; n < out.length; n++) {
    b = rho * b + rng.normal();
    out[n] = b;
  }
}

function babbleNoise(rng: Rng, sampleRate: number, out: Float64Array): void {
  out.fill(0);
  const talker = new Float64Array(out.length);
  const talkers = 3 + rng.int(4);
  for (let v = 0; v < talkers; v++) {
    cleanSignal(rng, sampleRate, talker);
    const gain = 10 ** (-between(rng, 0, 6) / 20) / Math.sqrt(meanSquare(talker));
    for (let n = 0; n < out.length; n++) out[n] += gain * talker[n];
  }
}

/** Fill `out` with noise of the given colour (arbitrary level). */
export function noiseSignal(type: NoiseType, rng: Rng, sampleRate: number, out: Float64Array): void {
  switch (type) {
    case 'white':
      return whiteNoise(rng, out);
    case 'pink':
      return pinkNoise(rng, out);
    case 'brown':
      return brownNoise(rng, sampleRate, out);
    case 'babble':
      return babbleNoise(rng, sampleRate, out);
  }
}

export function meanSquare(x: Float64Array): number {
  let sum = 0;
  for (let n = 0; n < x.length; n++) sum += x[n] * x[n];
  return sum / x.length;
}

/**
 * noisy = clean + g·noise with g chosen so that 10·log10(P_clean / P_{g·noise})
 * = snrDb, powers being mean squares over the whole signal. Returns g.
 */
export function mixAtSnr(clean: Float64Array, noise: Float64Array, snrDb: number, noisy: Float64Array): number {
  const gain = Math.sqrt(meanSquare(clean) / (meanSquare(noise) * 10 ** (snrDb / 10)));
  for (let n = 0; n < clean.length; n++) noisy[n] = clean[n] + gain * noise[n];
  return gain;
}
