/**
 * `generated:<name>` data sources: deterministic synthetic corpora, for the
 * demo, the tests and benchmarks (the CRD accepts `generated:` URLs; the tiny
 * example uses `generated:tiny-corpus`).
 *
 * Line n of a corpus depends only on (name, n), so the corpus is endless,
 * identical on every peer, and shardable by line number without reading the
 * lines of other shards.
 *
 * `tiny-corpus` is a small grammar of templated sentences whose masked words
 * are mostly predictable from the rest of the sentence (an animal's food and
 * sound, the next numbers in a count, the day after a day, a country's
 * capital), so a tiny model's MLM loss falls fast. Its long place names
 * ("copenhagen", "reykjavik") split into several WordPiece tokens with a
 * small vocabulary, which exercises whole-word masking.
 */
import { createRng, type Rng } from './rng.ts';

const ANIMALS: Record<string, { food: string; sound: string; home: string }> = {
  cat: { food: 'fish', sound: 'meow', home: 'house' },
  dog: { food: 'meat', sound: 'woof', home: 'kennel' },
  cow: { food: 'grass', sound: 'moo', home: 'barn' },
  bird: { food: 'seeds', sound: 'tweet', home: 'nest' },
  horse: { food: 'hay', sound: 'neigh', home: 'stable' },
  bear: { food: 'honey', sound: 'growl', home: 'cave' },
  rabbit: { food: 'carrots', sound: 'squeak', home: 'burrow' },
  monkey: { food: 'bananas', sound: 'chatter', home: 'jungle' },
  duck: { food: 'bread', sound: 'quack', home: 'pond' },
  sheep: { food: 'clover', sound: 'baa', home: 'meadow' },
};
const COLORS = ['red', 'blue', 'green', 'yellow', 'black', 'white', 'brown', 'grey'];
const SIZES = ['small', 'big', 'old', 'young', 'happy', 'sleepy'];
const NUMBERS = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];
const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const NAMES = ['anna', 'boris', 'clara', 'dmitri', 'elena', 'felix', 'greta', 'hugo', 'irina', 'jonas'];
const CAPITALS: Record<string, string> = {
  france: 'paris',
  germany: 'berlin',
  italy: 'rome',
  spain: 'madrid',
  norway: 'oslo',
  denmark: 'copenhagen',
  iceland: 'reykjavik',
  portugal: 'lisbon',
  austria: 'vienna',
  hungary: 'budapest',
  finland: 'helsinki',
  netherlands: 'amsterdam',
};
const PLACES = ['park', 'market', 'garden', 'river', 'forest', 'village', 'school', 'harbour'];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

/** One sentence of the tiny grammar. */
function tinySentence(rng: Rng): string {
  const animal = pick(rng, Object.keys(ANIMALS));
  const a = ANIMALS[animal]!;
  switch (rng.int(6)) {
    case 0:
      return `the ${pick(rng, COLORS)} ${animal} eats ${a.food} in the ${pick(rng, PLACES)} .`;
    case 1:
      return `the ${pick(rng, SIZES)} ${animal} says ${a.sound} and sleeps in the ${a.home} .`;
    case 2: {
      const start = rng.int(NUMBERS.length - 3);
      const seq = NUMBERS.slice(start, start + 4);
      return `${pick(rng, NAMES)} counts ${seq.join(' , ')} .`;
    }
    case 3: {
      const d = rng.int(DAYS.length);
      return `on ${DAYS[d]} ${pick(rng, NAMES)} goes to the ${pick(rng, PLACES)} and on ${DAYS[(d + 1) % DAYS.length]} comes home .`;
    }
    case 4: {
      const country = pick(rng, Object.keys(CAPITALS));
      return `the capital of ${country} is ${CAPITALS[country]} .`;
    }
    default: {
      const country = pick(rng, Object.keys(CAPITALS));
      return `${pick(rng, NAMES)} flies from ${CAPITALS[country]} to ${country} with a ${pick(rng, COLORS)} ${animal} .`;
    }
  }
}

/** A document of 1–3 sentences: line n of tiny-corpus. */
function tinyLine(n: number): string {
  const rng = createRng(`tiny-corpus/${n}`);
  const count = 1 + rng.int(3);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(tinySentence(rng));
  return out.join(' ');
}

const CORPORA: Record<string, (n: number) => string> = {
  'tiny-corpus': tinyLine,
};

/** Names accepted after `generated:`. */
export const GENERATED_CORPORA: readonly string[] = Object.keys(CORPORA);

/** Thrown when a `generated:` URL names no known corpus. */
export class UnknownCorpusError extends Error {
  readonly code = 'ERR_UNKNOWN_CORPUS';
  constructor(name: string) {
    super(`unknown generated corpus '${name}' (known: ${GENERATED_CORPORA.join(', ')})`);
    this.name = 'UnknownCorpusError';
  }
}

/** Line n (0-based) of the named corpus. */
export function generatedLine(name: string, n: number): string {
  const f = CORPORA[name];
  if (f === undefined) throw new UnknownCorpusError(name);
  return f(n);
}

/** Checks the name; returns the line function. */
export function generatedCorpus(name: string): (n: number) => string {
  const f = CORPORA[name];
  if (f === undefined) throw new UnknownCorpusError(name);
  return f;
}
