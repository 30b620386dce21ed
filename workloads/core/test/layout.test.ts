import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { z } from 'zod';
import { workloadConfigSchema } from '../config/schema';
import {
  assertSafeId,
  BUCKETS,
  datasetKeys,
  modelKeys,
  pipelineKeys,
  rawKeys,
  SAFE_ID,
  SAFE_ID_RULE,
  SPLITS,
  stagingKeys,
} from '../layout';
import { splitOf } from '../../preprocessing/split';

const REPO = path.resolve(__dirname, '../../..');

/** Every string-valued `…Prefix` (and the Vertex root) of the key builders: the prefixes layout.ts owns. */
const OWNED_PREFIXES = [rawKeys, datasetKeys, modelKeys, pipelineKeys]
  .flatMap((keys) => Object.entries(keys))
  .filter(([name, v]) => typeof v === 'string' && /Prefix$/.test(name))
  .map(([, v]) => v as string);

/**
 * String and template literal texts of a TypeScript file (comments excluded). Walks the parsed
 * tree: a bare token scanner cannot tell a template's closing brace from a block's, nor a
 * division from a regular expression, and then reads comments as literals.
 */
function literals(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateLiteralToken(node)) out.push(node.text);
    else if (ts.isTemplateExpression(node)) {
      out.push(node.head.text);
      for (const span of node.templateSpans) {
        visit(span.expression);
        out.push(span.literal.text);
      }
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** Product sources (no tests, no fixtures): where a key or an id rule must not be written again. */
function productSources(dir: string): string[] {
  return readdirSync(path.join(REPO, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !/(^|\/)test\//.test(f))
    .map((f) => path.join(dir, f));
}

describe('workloads/core/layout.ts, the one object layout', () => {
  test('every key builder writes under a prefix the layout names', () => {
    const v = 'v20261123T160912Z-ab12';
    expect(rawKeys.upload('img-1')).toBe(`${rawKeys.uploadsPrefix}img-1.json`);
    expect(stagingKeys.plan(v)).toBe(`${datasetKeys.stagingPrefix}${v}/plan.json`);
    expect(stagingKeys.part(v, 1, 4, 'tfrecord')).toBe(`${datasetKeys.stagingPrefix}${v}/part-00001-of-00004.tfrecord`);
    expect(modelKeys.evaluation(v, 'run-1')).toBe(`${modelKeys.evaluationsPrefix}${v}/run-1.json`);
    expect(modelKeys.checkpoint('run-1')).toBe(`${modelKeys.checkpointsPrefix}run-1/checkpoint.bin`);
    expect(modelKeys.featureCache('0123456789abcdef')).toBe(`${modelKeys.featureCachePrefix}0123456789abcdef/`);
    expect(pipelineKeys.stepOutputs('run-1', 'train')).toBe(`${pipelineKeys.runsPrefix}run-1/train/outputs.json`);
    expect(pipelineKeys.vertexRootPrefix).toBe(`${pipelineKeys.vertexRoot}/`);
    expect(OWNED_PREFIXES).toEqual(
      expect.arrayContaining(['uploads/', 'staging/', 'evaluations/', 'checkpoints/', 'cache/features/', 'runs/', 'vertex/']),
    );
  });

  test('key parsers invert the builders and refuse everything else', () => {
    expect(rawKeys.labelId(rawKeys.label('pug-01.b'))).toBe('pug-01.b');
    expect(rawKeys.labelId('labels/nested/x.json')).toBeUndefined();
    expect(rawKeys.labelId('labels/x.json.tmp')).toBeUndefined();
    expect(datasetKeys.manifestVersion(datasetKeys.manifest('v1'))).toBe('v1');
    expect(datasetKeys.manifestVersion('versions/v1/train/train-00000-of-00001.tfrecord')).toBeUndefined();
    expect(rawKeys.isImageKey(rawKeys.image('a', 'webp'))).toBe(true);
    expect(rawKeys.isImageKey('images/a.gif')).toBe(false);
    expect(rawKeys.isImageKey('images/../a.jpg')).toBe(false);
  });

  test('one safe-id rule, for the command lines, zod and JSON Schema', () => {
    for (const ok of ['a', 'A.b_c-1', 'x'.repeat(128)]) expect(assertSafeId('id', ok)).toBe(ok);
    for (const bad of ['', '.a', '-a', 'a/b', 'x'.repeat(129), 'a b'])
      expect(() => assertSafeId('run id', bad)).toThrow(`invalid run id ${JSON.stringify(bad)}: expected ${SAFE_ID_RULE}`);
    expect(z.string().regex(SAFE_ID).safeParse('a/b').success).toBe(false);
    expect(new RegExp(SAFE_ID.source).test('ok-1')).toBe(true);
  });

  test('bucket names and split names come from one list each', () => {
    expect(Object.keys(workloadConfigSchema.parse({}).storage.buckets)).toEqual([...BUCKETS]);
    expect(SPLITS).toContain(splitOf('0'.repeat(64), { testShare: 0.15, validationShare: 0.1 }));
  });

  test('no product source writes a layout prefix or the safe-id pattern again', () => {
    const found: string[] = [];
    for (const file of ['workloads', 'pipeline-specs', 'components', 'stacks'].flatMap(productSources)) {
      if (file === path.join('workloads', 'core', 'layout.ts')) continue;
      for (const text of literals(path.join(REPO, file))) {
        if (text.includes('[A-Za-z0-9][A-Za-z0-9._-]')) found.push(`${file}: safe-id pattern ${JSON.stringify(text)}`);
        const prefix = OWNED_PREFIXES.find((p) => text.startsWith(p));
        if (prefix) found.push(`${file}: ${JSON.stringify(text)} starts with the layout's ${prefix}`);
      }
    }
    expect(found).toEqual([]);
  });
});
