import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

/** CI guardrails: federation instead of keys, policies on every preview/up, an approval before prod. */
const dir = path.join(__dirname, '../../.github/workflows');
const load = (f: string) => ({ text: readFileSync(path.join(dir, f), 'utf8'), doc: parse(readFileSync(path.join(dir, f), 'utf8')) });
type Step = { uses?: string; with?: Record<string, unknown> };

test.each(['test.yml', 'preview.yml', 'deploy.yml'])('%s holds no credentials', (f) => {
  expect(load(f).text).not.toMatch(/credentials_json|GOOGLE_APPLICATION_CREDENTIALS|private_key|-key\.json|keyfile/i);
});

test('tests run on every push', () => {
  expect(Object.keys(load('test.yml').doc.on)).toContain('push');
});

test('pull requests preview the dev stack with the policy pack, authenticated by Workload Identity Federation', () => {
  const { doc } = load('preview.yml');
  expect(Object.keys(doc.on)).toEqual(['pull_request']);
  expect(doc.permissions['id-token']).toBe('write');
  const steps: Step[] = doc.jobs.preview.steps;
  const auth = steps.find((s) => s.uses?.startsWith('google-github-actions/auth@'))!;
  expect(Object.keys(auth.with!).sort()).toEqual(['service_account', 'workload_identity_provider']);
  expect(steps.find((s) => s.uses?.startsWith('pulumi/actions@'))!.with).toMatchObject({
    command: 'preview',
    'stack-name': 'dev',
    policyPacks: 'policy',
  });
});

test('merges to main run pulumi up, prod only after dev and inside an approval environment', () => {
  const { doc } = load('deploy.yml');
  expect(doc.on.push.branches).toEqual(['main']);
  expect(doc.permissions['id-token']).toBe('write');
  expect(doc.jobs.prod.needs).toBe('dev');
  expect(doc.jobs.prod.environment).toBe('prod');
  for (const job of ['dev', 'prod']) {
    const up = (doc.jobs[job].steps as Step[]).find((s) => s.uses?.startsWith('pulumi/actions@'))!;
    expect(up.with).toMatchObject({ command: 'up', 'stack-name': job, policyPacks: 'policy' });
  }
});
