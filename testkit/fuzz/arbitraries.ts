/** Input generators shared by the *.fuzz.ts files (see registry.ts). */
import fc from 'fast-check';

/** Byte-level mutations of a valid encoding: flips, inserts, deletes, truncation. */
export const mutated = (base: Uint8Array): fc.Arbitrary<Uint8Array> =>
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'delete', 'truncate')), { maxLength: 8 }).map((ops) => {
    let b = Array.from(base);
    for (const [at, v, op] of ops) {
      const i = b.length === 0 ? 0 : at % b.length;
      if (op === 'flip') b[i] = v;
      else if (op === 'insert') b.splice(i, 0, v);
      else if (op === 'delete') b.splice(i, 1);
      else b = b.slice(0, i);
    }
    return Uint8Array.from(b);
  });
