import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

/**
 * CI guardrails: federation instead of keys, policies on every preview/up, stacks created on
 * the first deploy with a secrets provider, a read-only identity for pull requests and the
 * deploy identity only in main's environments, and every action pinned by commit SHA.
 */
const dir = path.join(__dirname, '../../.github/workflows');
const WORKFLOWS = readdirSync(dir).filter((f) => f.endsWith('.yml'));
const load = (f: string) => ({ text: readFileSync(path.join(dir, f), 'utf8'), doc: parse(readFileSync(path.join(dir, f), 'utf8')) });
type Step = { id?: string; if?: string; uses?: string; run?: string; with?: Record<string, unknown> };
type Job = { environment?: string; steps: Step[]; env?: Record<string, string> };

const pulumiSteps = (job: Job) => job.steps.filter((s) => s.uses?.startsWith('pulumi/actions@') && s.with?.command);
const varsIn = (text: string) => [...new Set([...text.matchAll(/\bvars\.([A-Z0-9_]+)/g)].map((m) => m[1]))].sort();

/** The variable names a workflow's header comment lists under `heading` (one `#   NAME  description` line each). */
function documentedVars(text: string, heading: RegExp): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => heading.test(l));
  if (start < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    const m = /^#\s{2,}([A-Z0-9_]+)\s/.exec(l);
    if (m) out.push(m[1]);
    else if (out.length > 0 || !l.startsWith('# (')) break; // a parenthesised line may follow the heading
  }
  return out.sort();
}

test.each(WORKFLOWS)('%s holds no credentials', (f) => {
  expect(load(f).text).not.toMatch(/credentials_json|GOOGLE_APPLICATION_CREDENTIALS|private_key|-key\.json|keyfile/i);
});

test.each(WORKFLOWS)('%s pins every action by commit SHA, with the tag it came from', (f) => {
  const uses = [...load(f).text.matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/gm)].map((m) => [m[1], m[2].trim()]);
  expect(uses.length).toBeGreaterThan(0);
  for (const [ref, comment] of uses) {
    if (ref.startsWith('./')) continue; // a workflow of this repository
    expect([ref, comment]).toEqual([expect.stringMatching(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/), expect.stringMatching(/^# v\d+\.\d+\.\d+$/)]);
  }
});

test('one action, one pin: the same action is pinned to the same commit everywhere', () => {
  const pins = new Map<string, Set<string>>();
  for (const f of WORKFLOWS)
    for (const m of load(f).text.matchAll(/uses:\s*([\w.-]+\/[\w.-]+)@(\S+)/g)) pins.set(m[1], new Set([...(pins.get(m[1]) ?? []), m[2]]));
  for (const [action, shas] of pins) expect([action, shas.size]).toEqual([action, 1]);
});

test('tests run on every push', () => {
  expect(Object.keys(load('test.yml').doc.on)).toContain('push');
});

describe('pull requests', () => {
  const { doc, text } = load('preview.yml');
  const job: Job = doc.jobs.preview;

  test('preview the dev stack with the policy pack, authenticated by Workload Identity Federation', () => {
    expect(Object.keys(doc.on)).toEqual(['pull_request']);
    expect(doc.permissions['id-token']).toBe('write');
    expect(pulumiSteps(job).map((s) => s.with)).toEqual([
      expect.objectContaining({ command: 'preview', 'stack-name': 'dev', policyPacks: 'policy' }),
    ]);
  });

  test('use the read-only preview identity, never the deploy identity', () => {
    const auth = job.steps.find((s) => s.uses?.startsWith('google-github-actions/auth@'))!;
    expect(auth.with).toEqual({
      workload_identity_provider: '${{ vars.GCP_PREVIEW_WORKLOAD_IDENTITY_PROVIDER }}',
      service_account: '${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT }}',
    });
    expect(varsIn(text)).not.toContain('GCP_DEPLOY_SERVICE_ACCOUNT');
    expect(varsIn(text)).not.toContain('GCP_WORKLOAD_IDENTITY_PROVIDER');
  });

  test('see every variable they use: no environment, so each is a documented repository variable', () => {
    expect(job.environment).toBeUndefined();
    expect(varsIn(text)).toEqual(documentedVars(text, /repository variables only/));
  });

  test('create nothing: no upsert; before the first deploy the preview is skipped with a notice', () => {
    expect(pulumiSteps(job).every((s) => s.with?.upsert === undefined)).toBe(true);
    const check = job.steps.find((s) => s.id === 'stack')!;
    expect(check.run).toContain('pulumi stack select dev');
    expect(pulumiSteps(job)[0].if).toBe("steps.stack.outputs.exists == 'true'");
  });
});

describe('merges to main', () => {
  const { doc, text } = load('deploy.yml');

  test('run pulumi up, prod only after dev and inside an approval environment', () => {
    expect(doc.on).toEqual({ push: { branches: ['main'] } });
    expect(doc.permissions['id-token']).toBe('write');
    expect(doc.jobs.prod.needs).toBe('dev');
    for (const stack of ['dev', 'prod']) {
      const up = pulumiSteps(doc.jobs[stack]);
      expect(up.map((s) => s.with)).toEqual([expect.objectContaining({ command: 'up', 'stack-name': stack, policyPacks: 'policy' })]);
    }
  });

  test('each stack deploys in the GitHub environment of its name, with that environment’s deploy identity', () => {
    for (const stack of ['dev', 'prod']) {
      const job: Job = doc.jobs[stack];
      expect(job.environment).toBe(stack);
      expect(job.steps.find((s) => s.uses?.startsWith('google-github-actions/auth@'))!.with).toEqual({
        workload_identity_provider: '${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}',
        service_account: '${{ vars.GCP_DEPLOY_SERVICE_ACCOUNT }}',
      });
    }
    expect(documentedVars(text, /^# Environment variables/)).toEqual([
      'GCP_DEPLOY_SERVICE_ACCOUNT',
      'GCP_WORKLOAD_IDENTITY_PROVIDER',
      'PULUMI_SECRETS_PROVIDER',
    ]);
    expect(varsIn(text)).toEqual(
      [...documentedVars(text, /^# Environment variables/), ...documentedVars(text, /^# Repository variables/)].sort(),
    );
  });

  test('create a missing stack (upsert) with a secrets provider for the gs:// backend', () => {
    for (const stack of ['dev', 'prod']) {
      for (const s of pulumiSteps(doc.jobs[stack]))
        expect(s.with).toMatchObject({
          upsert: true,
          'cloud-url': '${{ vars.PULUMI_BACKEND_URL }}',
          'secrets-provider': '${{ vars.PULUMI_SECRETS_PROVIDER }}',
        });
    }
  });
});

test('every preview and up names its state backend and its secrets provider', () => {
  for (const f of ['preview.yml', 'deploy.yml']) {
    for (const job of Object.values(load(f).doc.jobs as Record<string, Job>)) {
      if (!job.steps) continue;
      for (const s of pulumiSteps(job)) {
        expect(s.with?.['cloud-url']).toBe('${{ vars.PULUMI_BACKEND_URL }}');
        expect(s.with?.['secrets-provider']).toMatch(/^\$\{\{ vars\.PULUMI_SECRETS_PROVIDER(_DEV)? \}\}$/);
      }
    }
  }
});

test.each(['preview.yml', 'deploy.yml'])('%s puts the offline data next to the clone before pulumi runs (the backbone it uploads)', (f) => {
  const { doc } = load(f);
  const jobs = Object.values(doc.jobs as Record<string, Job>).filter((j) => j.steps && pulumiSteps(j).length > 0);
  expect(jobs.length).toBeGreaterThan(0);
  for (const job of jobs) {
    const checkout = job.steps.findIndex(
      (s) => s.uses?.startsWith('actions/checkout@') && s.with?.repository === '${{ vars.SHARED_DATA_REPO }}',
    );
    const moved = job.steps.findIndex((s) => s.run === `mv ${job.steps[checkout]?.with?.path} ../shared`);
    const pulumi = job.steps.indexOf(pulumiSteps(job)[0]);
    expect({ checkout: checkout >= 0, lfs: job.steps[checkout]?.with?.lfs, moved: moved > checkout, beforePulumi: moved < pulumi }).toEqual(
      {
        checkout: true,
        lfs: true,
        moved: true,
        beforePulumi: true,
      },
    );
  }
});
