/**
 * The trainer's defaults and bounds of spec.training are the CRD's: every
 * scalar field of spec.training in crds/trainingswarm.yaml with a default, a
 * bound or an enum has the same keywords in TRAINING_FIELDS, and
 * TRAINING_FIELDS names no other field. Changing one side alone fails here.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { parseTrainingSpec, TRAINING_FIELDS } from './training-spec.ts';

type Schema = Record<string, unknown> & { properties?: Record<string, Schema> };

/** The keywords TRAINING_FIELDS copies. */
const KEYWORDS = ['type', 'default', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'enum'] as const;
/** Keywords that make a field worth copying (a type alone says nothing the parser would need). */
const CONSTRAINTS = KEYWORDS.filter((k) => k !== 'type');

const crdPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'crds', 'trainingswarm.yaml');
const crd = parse(readFileSync(crdPath, 'utf8'));
const training: Schema = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.training;

/** Scalar fields of `s` (by dotted path) that carry at least one constraint, with their keywords. */
function constrainedFields(s: Schema, prefix = ''): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const [name, p] of Object.entries(s.properties ?? {})) {
    const path = prefix === '' ? name : `${prefix}.${name}`;
    if (p['type'] === 'object') {
      for (const [k, v] of constrainedFields(p, path)) out.set(k, v);
    } else if (p['type'] !== 'array' && CONSTRAINTS.some((k) => p[k] !== undefined)) {
      out.set(path, Object.fromEntries(KEYWORDS.filter((k) => p[k] !== undefined).map((k) => [k, p[k]])));
    }
  }
  return out;
}

const fromCrd = constrainedFields(training);

describe('spec.training: the trainer and crds/trainingswarm.yaml agree', () => {
  it('finds the CRD fields (the walk reads the schema)', () => {
    expect(fromCrd.size).toBeGreaterThanOrEqual(25);
    expect(fromCrd.get('averaging.maxGroupSize')).toMatchObject({ type: 'integer', minimum: 2 });
  });

  it('names the same fields', () => {
    expect(Object.keys(TRAINING_FIELDS).sort()).toEqual([...fromCrd.keys()].sort());
  });

  it.each([...fromCrd])('%s: same type, default, bounds and enum', (path, keywords) => {
    const mine = TRAINING_FIELDS[path as keyof typeof TRAINING_FIELDS];
    expect({ ...mine, ...('enum' in mine ? { enum: [...mine.enum] } : {}) }).toEqual(keywords);
  });

  it('fills in exactly the CRD defaults', () => {
    const s = parseTrainingSpec(JSON.stringify({ targetBatchSize: 1, data: { urls: ['generated:tiny-corpus'] } }), { dataRequired: true });
    for (const [path, keywords] of fromCrd) {
      const value = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], s);
      if (path !== 'targetBatchSize') expect([path, value]).toEqual([path, keywords['default']]);
    }
  });
});
