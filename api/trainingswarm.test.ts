/**
 * Keeps api/trainingswarm.ts and crds/trainingswarm.yaml in step:
 * - every example validates against the CRD's OpenAPI schema (with defaults);
 * - the TypeScript interfaces and the schema name the same fields, with the
 *   same required-ness (read from the types with the TypeScript compiler).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import {
  API_VERSION, AVERAGING_MODES, TRAINER_BACKENDS, COMPRESSIONS, MODEL_ARCHITECTURES, MODEL_SIZES, OPTIMIZER_NAMES, ROBUST_METHODS, DEFAULT_PRIORITY_CLASS, DEFAULT_PRIORITY_VALUE, KIND, PLURAL,
  type TrainingSwarm,
} from './trainingswarm.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const crd = parse(readFileSync(join(root, 'crds/trainingswarm.yaml'), 'utf8'));
const version = crd.spec.versions[0];
const openApi = version.schema.openAPIV3Schema;

type Schema = Record<string, any>;

/** Kubernetes structural OpenAPI v3.0 → JSON Schema draft-07 for ajv. */
function toJsonSchema(s: Schema): Schema {
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-kubernetes-') || k === 'description') continue;
    if (k === 'properties') out[k] = Object.fromEntries(Object.entries(v as Schema).map(([p, ps]) => [p, toJsonSchema(ps as Schema)]));
    else if (k === 'items' || k === 'additionalProperties') out[k] = typeof v === 'object' ? toJsonSchema(v as Schema) : v;
    else if (k === 'exclusiveMinimum' && v === true) out[k] = s['minimum'];
    else if (k === 'minimum' && s['exclusiveMinimum'] === true) continue;
    else if (k === 'exclusiveMaximum' && v === true) out[k] = s['maximum'];
    else if (k === 'maximum' && s['exclusiveMaximum'] === true) continue;
    else if (k === 'format' && v === 'int64') continue;
    else out[k] = v;
  }
  if (s['x-kubernetes-preserve-unknown-fields'] !== true && out['type'] === 'object' && out['properties'] && out['additionalProperties'] === undefined) {
    out['additionalProperties'] = false;
  }
  return out;
}

const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false });
ajv.addFormat("date-time", true);
const validate = ajv.compile(toJsonSchema(openApi));

const examplesDir = join(root, 'crds/examples');
const examples = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'));

describe('CRD metadata', () => {
  it('names the kind, group, plural and short name the API promises', () => {
    expect(`${crd.spec.group}/${version.name}`).toBe(API_VERSION);
    expect(crd.spec.names.kind).toBe(KIND);
    expect(crd.spec.names.plural).toBe(PLURAL);
    expect(crd.spec.names.shortNames).toContain('swarm');
    expect(crd.spec.scope).toBe('Namespaced');
  });

  it('has status and scale subresources; scale drives spec.peers.max', () => {
    expect(version.subresources.status).toEqual({});
    expect(version.subresources.scale).toEqual({
      specReplicasPath: '.spec.peers.max',
      statusReplicasPath: '.status.peers.running',
      labelSelectorPath: '.status.selector',
    });
  });

  it('prints the promised columns, each by field and never by condition index', () => {
    const cols = version.additionalPrinterColumns as { name: string; jsonPath: string; priority?: number }[];
    const main = cols.filter((c) => !c.priority).map((c) => c.name);
    expect(main).toEqual(['Phase', 'Peers', 'Epoch', 'Samples/s', 'Loss', 'Preemptions', 'Age']);
    for (const c of cols) expect(c.jsonPath).not.toMatch(/conditions\[/);
  });

  it('describes every field, so kubectl explain reads well', () => {
    const missing: string[] = [];
    const walk = (s: Schema, path: string): void => {
      if (path !== '.metadata' && path !== '' && !s['description']) missing.push(path);
      for (const [p, ps] of Object.entries((s['properties'] ?? {}) as Schema)) walk(ps as Schema, `${path}.${p}`);
      if (s['items']?.['properties']) for (const [p, ps] of Object.entries(s['items']['properties'] as Schema)) walk(ps as Schema, `${path}[].${p}`);
    };
    walk(openApi, '');
    expect(missing).toEqual([]);
  });

  it('lists the model sizes and architectures the operator checks (api MODEL_SIZES)', () => {
    const model = openApi.properties.spec.properties.training.properties.model.properties;
    expect(model.size.enum).toEqual([...MODEL_SIZES]);
    expect(model.architecture.enum).toEqual([...MODEL_ARCHITECTURES]);
  });

  it('lists the optimizers, averaging modes, compressions and robust methods of the api constant arrays', () => {
    const training = openApi.properties.spec.properties.training.properties;
    const averaging = training.averaging.properties;
    expect(training.optimizer.properties.name.enum).toEqual([...OPTIMIZER_NAMES]);
    expect(averaging.mode.enum).toEqual([...AVERAGING_MODES]);
    expect(averaging.compression.enum).toEqual([...COMPRESSIONS]);
    expect(averaging.robust.properties.method.enum).toEqual([...ROBUST_METHODS]);
  });

  it('lists the trainer backends of api TRAINER_BACKENDS, auto by default', () => {
    const backend = openApi.properties.spec.properties.trainer.properties.backend;
    expect(backend.enum).toEqual([...TRAINER_BACKENDS]);
    expect(backend.default).toBe('auto');
  });

  it('ships the spotswarm-preemptible PriorityClass below the autoscaler cutoff, never preempting', () => {
    const pc = parse(readFileSync(join(root, 'crds/priorityclass.yaml'), 'utf8'));
    expect(pc.metadata.name).toBe(DEFAULT_PRIORITY_CLASS);
    expect(pc.value).toBe(DEFAULT_PRIORITY_VALUE);
    expect(pc.value).toBeLessThan(-10);
    expect(pc.preemptionPolicy).toBe('Never');
    expect(openApi.properties.spec.properties.priorityClassName.default).toBe(DEFAULT_PRIORITY_CLASS);
  });
});

describe.each(examples)('example %s', (file) => {
  const docs = parseAllDocuments(readFileSync(join(examplesDir, file), 'utf8')).map((d) => d.toJS());
  it('validates against the CRD schema', () => {
    for (const doc of docs) {
      const ok = validate(doc);
      expect(validate.errors ?? []).toEqual([]);
      expect(ok).toBe(true);
      const swarm = doc as TrainingSwarm;
      expect(swarm.spec.peers.min).toBeLessThanOrEqual(swarm.spec.peers.max);
      expect(swarm.spec.priorityClassName).toBe(DEFAULT_PRIORITY_CLASS);
    }
  });
});

describe('schema rejects', () => {
  const base = (): any => parse(readFileSync(join(examplesDir, 'tiny.yaml'), 'utf8'));
  it.each([
    ['negative GPUs', (s: any) => { s.spec.trainer.resources.gpus = -1; }, '/spec/trainer/resources/gpus'],
    ['unknown field', (s: any) => { s.spec.peers.maximum = 3; }, '/spec/peers'],
    ['bad compression', (s: any) => { s.spec.training.averaging.compression = 'zip'; }, '/spec/training/averaging/compression'],
    ['zero learning rate', (s: any) => { s.spec.training.optimizer.learningRate = 0; }, '/spec/training/optimizer/learningRate'],
    ['unknown robust method', (s: any) => { s.spec.training.averaging.robust = { method: 'krum' }; }, '/spec/training/averaging/robust/method'],
    ['trimming half of the weight', (s: any) => { s.spec.training.averaging.robust = { method: 'trimmed-mean', trimFraction: 0.5 }; }, '/spec/training/averaging/robust/trimFraction'],
    ['a zero clipping radius', (s: any) => { s.spec.training.averaging.robust = { method: 'centered-clip', clipTau: 0 }; }, '/spec/training/averaging/robust/clipTau'],
    ['a sample cap below 1', (s: any) => { s.spec.training.averaging.robust = { method: 'centered-clip', maxSamplesRatio: 0.5 }; }, '/spec/training/averaging/robust/maxSamplesRatio'],
  ])('%s', (_name, mutate, path) => {
    const s = base();
    mutate(s);
    expect(validate(s)).toBe(false);
    expect(validate.errors?.map((e: { instancePath: string }) => e.instancePath)).toContain(path);
  });
});

describe('robust aggregation defaults', () => {
  it('fills spec.training.averaging.robust with method none and the documented parameters', () => {
    const s: any = parse(readFileSync(join(examplesDir, 'tiny.yaml'), 'utf8'));
    delete s.spec.training.averaging?.robust;
    expect(validate(s)).toBe(true);
    expect(s.spec.training.averaging.robust).toEqual({ method: 'none', trimFraction: 0.2, clipTau: 1, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: false });
  });
});

/** Field paths and required-ness of TrainingSwarm's spec and status, read from the TS types. */
function typeFields(): Map<string, boolean> {
  const file = join(root, 'api/trainingswarm.ts');
  const program = ts.createProgram([file], { strict: true, allowImportingTsExtensions: true, noEmit: true });
  const checker = program.getTypeChecker();
  const src = program.getSourceFile(file)!;
  const fields = new Map<string, boolean>();
  const walk = (type: ts.Type, path: string, depth: number): void => {
    if (depth > 6) return;
    const t = checker.getNonNullableType(type);
    if (checker.isArrayType(t)) {
      walk(checker.getTypeArguments(t as ts.TypeReference)[0]!, `${path}[]`, depth + 1);
      return;
    }
    if (t.isUnion() || (t.flags & (ts.TypeFlags.StringLike | ts.TypeFlags.NumberLike | ts.TypeFlags.BooleanLike)) !== 0 || t.getProperties().length === 0) return;
    if (checker.typeToString(t).startsWith('Record<')) return;
    for (const p of t.getProperties()) {
      const decl = p.valueDeclaration ?? p.declarations?.[0];
      if (!decl) continue;
      const optional = (p.flags & ts.SymbolFlags.Optional) !== 0;
      const child = `${path}.${p.name}`;
      fields.set(child, !optional);
      walk(checker.getTypeOfSymbolAtLocation(p, decl), child, depth + 1);
    }
  };
  const swarm = src.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'TrainingSwarm')!;
  const swarmType = checker.getTypeAtLocation(swarm);
  for (const top of ['spec', 'status']) {
    const sym = swarmType.getProperty(top)!;
    walk(checker.getTypeOfSymbolAtLocation(sym, swarm), `.${top}`, 0);
  }
  return fields;
}

/** Field paths of the schema: required when listed in `required` or given a default (the server fills it). */
function schemaFields(): Map<string, boolean> {
  const fields = new Map<string, boolean>();
  const walk = (s: Schema, path: string): void => {
    if (s['x-kubernetes-preserve-unknown-fields'] || s['additionalProperties']) return;
    const props = s['properties'] as Schema | undefined;
    if (props) {
      for (const [p, ps] of Object.entries(props)) {
        const required = ((s['required'] ?? []) as string[]).includes(p) || (ps as Schema)['default'] !== undefined;
        fields.set(`${path}.${p}`, required);
        walk(ps as Schema, `${path}.${p}`);
      }
    }
    if (s['items']) walk(s['items'] as Schema, `${path}[]`);
  };
  walk(openApi.properties.spec, '.spec');
  walk(openApi.properties.status, '.status');
  return fields;
}

describe('TypeScript types and CRD schema', () => {
  const fromTypes = typeFields();
  const fromSchema = schemaFields();
  it('name the same fields', () => {
    expect([...fromTypes.keys()].sort()).toEqual([...fromSchema.keys()].sort());
  });
  it('agree on which fields are always present (required or defaulted)', () => {
    const mismatched = [...fromSchema].filter(([path, req]) => fromTypes.has(path) && fromTypes.get(path) !== req && !path.startsWith('.status'));
    expect(mismatched).toEqual([]);
  });
});
