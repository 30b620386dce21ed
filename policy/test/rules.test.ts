import {
  clientLimitsInProd,
  deletionProtectionInProd,
  imagesByDigest,
  noPrimitiveRoles,
  noPublicBuckets,
  noPublicInvokerInProd,
  noServiceAccountKeys,
  noWorldOpenFirewallInProd,
  PolicyResource,
  stackOfUrn,
} from '../rules';

const res = (type: string, props: Record<string, unknown>, protect = false): PolicyResource => ({
  type,
  name: 'r',
  urn: `urn:pulumi:prod::creature-vision::${type}::r`,
  props,
  opts: { protect },
});
const PROD = { production: true };
const DEV = { production: false };
const DIGEST = `europe-west1-docker.pkg.dev/p/r/inference@sha256:${'a'.repeat(64)}`;

test('the stack comes from the URN', () => {
  expect(stackOfUrn('urn:pulumi:prod::creature-vision::gcp:storage/bucket:Bucket::lake-raw')).toBe('prod');
  expect(stackOfUrn('not-a-urn')).toBe('');
});

describe('no-public-buckets', () => {
  const bucket = { publicAccessPrevention: 'enforced', uniformBucketLevelAccess: true };
  test('a private bucket passes', () => expect(noPublicBuckets(res('gcp:storage/bucket:Bucket', bucket), DEV)).toEqual([]));
  test('public access prevention not enforced', () =>
    expect(noPublicBuckets(res('gcp:storage/bucket:Bucket', { ...bucket, publicAccessPrevention: 'inherited' }), DEV)).toEqual([
      'bucket r: publicAccessPrevention must be "enforced" (is "inherited")',
    ]));
  test('fine-grained ACLs', () =>
    expect(noPublicBuckets(res('gcp:storage/bucket:Bucket', { ...bucket, uniformBucketLevelAccess: false }), DEV)).toHaveLength(1));
  test.each([
    ['gcp:storage/bucketIAMMember:BucketIAMMember', { role: 'roles/storage.objectViewer', member: 'allUsers' }],
    [
      'gcp:storage/bucketIAMBinding:BucketIAMBinding',
      { role: 'roles/storage.objectViewer', members: ['user:a@b.c', 'allAuthenticatedUsers'] },
    ],
    [
      'gcp:storage/bucketIAMPolicy:BucketIAMPolicy',
      { policyData: JSON.stringify({ bindings: [{ role: 'roles/storage.admin', members: ['allUsers'] }] }) },
    ],
    ['gcp:storage/bucketAccessControl:BucketAccessControl', { entity: 'allUsers', role: 'READER' }],
    ['gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl', { entity: 'allAuthenticatedUsers', role: 'READER' }],
  ])('public principal on %s', (type, props) => expect(noPublicBuckets(res(type, props), DEV)).toHaveLength(1));
  test('a service account grant passes', () =>
    expect(
      noPublicBuckets(
        res('gcp:storage/bucketIAMMember:BucketIAMMember', {
          role: 'roles/storage.objectViewer',
          member: 'serviceAccount:x@p.iam.gserviceaccount.com',
        }),
        DEV,
      ),
    ).toEqual([]));
});

describe('no-public-invoker-in-prod', () => {
  const invoker = res('gcp:cloudrunv2/serviceIamMember:ServiceIamMember', { role: 'roles/run.invoker', member: 'allUsers' });
  test('allowed outside production', () => expect(noPublicInvokerInProd(invoker, DEV)).toEqual([]));
  test('refused in production', () =>
    expect(noPublicInvokerInProd(invoker, PROD)).toEqual(['r: allUsers may invoke a Cloud Run service in production']));
  test('bindings and v1 services too', () => {
    expect(
      noPublicInvokerInProd(
        res('gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding', { role: 'roles/run.invoker', members: ['allAuthenticatedUsers'] }),
        PROD,
      ),
    ).toHaveLength(1);
    expect(
      noPublicInvokerInProd(res('gcp:cloudrun/iamMember:IamMember', { role: 'roles/run.invoker', member: 'allUsers' }), PROD),
    ).toHaveLength(1);
  });
  test('disabling the invoker check is public too', () =>
    expect(noPublicInvokerInProd(res('gcp:cloudrunv2/service:Service', { invokerIamDisabled: true }), PROD)).toHaveLength(1));
  test('a service account invoker passes', () =>
    expect(
      noPublicInvokerInProd(
        res('gcp:cloudrunv2/serviceIamMember:ServiceIamMember', {
          role: 'roles/run.invoker',
          member: 'serviceAccount:s@p.iam.gserviceaccount.com',
        }),
        PROD,
      ),
    ).toEqual([]));
});

describe('no-service-account-keys', () => {
  test('keys are refused everywhere', () => {
    expect(noServiceAccountKeys(res('gcp:serviceaccount/key:Key', { serviceAccountId: 'x' }), DEV)).toHaveLength(1);
    expect(noServiceAccountKeys(res('gcp:storage/hmacKey:HmacKey', { serviceAccountEmail: 'x' }), DEV)).toHaveLength(1);
    expect(noServiceAccountKeys(res('gcp:serviceaccount/account:Account', { accountId: 'x' }), DEV)).toEqual([]);
  });
});

describe('no-primitive-roles', () => {
  test.each(['roles/owner', 'roles/editor', 'roles/viewer'])('%s is refused on projects, buckets and datasets', (role) => {
    expect(noPrimitiveRoles(res('gcp:projects/iAMMember:IAMMember', { role, member: 'user:a@b.c', project: 'p' }), DEV)).toHaveLength(1);
    expect(noPrimitiveRoles(res('gcp:storage/bucketIAMBinding:BucketIAMBinding', { role, members: ['group:g@b.c'] }), DEV)).toHaveLength(1);
    expect(noPrimitiveRoles(res('gcp:bigquery/datasetIamMember:DatasetIamMember', { role, member: 'user:a@b.c' }), DEV)).toHaveLength(1);
  });
  test('basic access on a dataset', () =>
    expect(
      noPrimitiveRoles(res('gcp:bigquery/dataset:Dataset', { accesses: [{ role: 'OWNER', userByEmail: 'a@b.c' }] }), DEV),
    ).toHaveLength(1));
  test('predefined roles pass', () =>
    expect(
      noPrimitiveRoles(res('gcp:projects/iAMMember:IAMMember', { role: 'roles/bigquery.jobUser', member: 'serviceAccount:x' }), DEV),
    ).toEqual([]));
});

describe('deletion-protection-in-prod', () => {
  test('unprotected state is fine outside production', () =>
    expect(deletionProtectionInProd(res('gcp:storage/bucket:Bucket', { forceDestroy: true }), DEV)).toEqual([]));
  test('buckets: no force-destroy, protected', () => {
    expect(deletionProtectionInProd(res('gcp:storage/bucket:Bucket', { forceDestroy: false }, true), PROD)).toEqual([]);
    expect(deletionProtectionInProd(res('gcp:storage/bucket:Bucket', { forceDestroy: true }, false), PROD)).toEqual([
      'bucket r: forceDestroy must be off in production',
      'bucket r: must be protected (protect: true) in production',
    ]);
  });
  test('datasets, tables and Cloud Run services', () => {
    expect(deletionProtectionInProd(res('gcp:bigquery/dataset:Dataset', { deleteContentsOnDestroy: true }, true), PROD)).toHaveLength(1);
    expect(deletionProtectionInProd(res('gcp:bigquery/table:Table', { deletionProtection: false }), PROD)).toHaveLength(1);
    expect(deletionProtectionInProd(res('gcp:cloudrunv2/service:Service', { deletionProtection: false }), PROD)).toHaveLength(1);
    expect(deletionProtectionInProd(res('gcp:cloudrunv2/job:Job', { deletionProtection: false }), PROD)).toEqual([
      'job r: deletionProtection must be on in production',
    ]);
    expect(deletionProtectionInProd(res('gcp:cloudrunv2/job:Job', { deletionProtection: false }), DEV)).toEqual([]);
    // The provider's default for both is on.
    expect(deletionProtectionInProd(res('gcp:cloudrunv2/service:Service', {}), PROD)).toEqual([]);
  });
});

describe('images-by-digest', () => {
  const service = (image: unknown) => res('gcp:cloudrunv2/service:Service', { template: { containers: [{ image }] } });
  test('a digest passes', () => expect(imagesByDigest(service(DIGEST), DEV)).toEqual([]));
  test.each(['europe-west1-docker.pkg.dev/p/r/inference:latest', 'europe-west1-docker.pkg.dev/p/r/inference', 'x@sha256:short'])(
    '%s is refused',
    (image) => expect(imagesByDigest(service(image), DEV)).toHaveLength(1),
  );
  test('an image not known yet (preview) is not judged', () => expect(imagesByDigest(service(undefined), DEV)).toEqual([]));
  test('Cloud Run jobs and v1 services too', () => {
    expect(imagesByDigest(res('gcp:cloudrunv2/job:Job', { template: { template: { containers: [{ image: 'a:b' }] } } }), DEV)).toHaveLength(
      1,
    );
    expect(
      imagesByDigest(res('gcp:cloudrun/service:Service', { template: { spec: { containers: [{ image: 'a:b' }] } } }), DEV),
    ).toHaveLength(1);
  });
});

describe('no-world-open-firewall-in-prod', () => {
  const fw = (sourceRanges: string[], direction = 'INGRESS') => res('gcp:compute/firewall:Firewall', { direction, sourceRanges });
  test('named ranges pass everywhere', () => expect(noWorldOpenFirewallInProd(fw(['35.235.240.0/20']), PROD)).toEqual([]));
  test('the whole internet is refused in production only', () => {
    expect(noWorldOpenFirewallInProd(fw(['0.0.0.0/0', '10.0.0.0/8']), PROD)).toEqual([
      'firewall r: source range 0.0.0.0/0 opens it to the whole internet in production',
    ]);
    expect(noWorldOpenFirewallInProd(fw(['::/0']), PROD)).toHaveLength(1);
    expect(noWorldOpenFirewallInProd(fw(['0.0.0.0/0']), DEV)).toEqual([]);
    expect(noWorldOpenFirewallInProd(fw(['0.0.0.0/0'], 'EGRESS'), PROD)).toEqual([]);
  });
});

describe('client-limits-in-prod', () => {
  const svc = (env: Record<string, string>) =>
    res('gcp:cloudrunv2/service:Service', {
      template: { containers: [{ envs: Object.entries(env).map(([name, value]) => ({ name, value })) }] },
    });
  test('limits on (or not carried at all) pass everywhere', () => {
    expect(
      clientLimitsInProd(svc({ CV_INFERENCE_RATE_LIMIT_PER_MINUTE: '60', CV_INFERENCE_RATE_LIMIT_UPLOADS_PER_DAY: '100' }), PROD),
    ).toEqual([]);
    expect(clientLimitsInProd(svc({ CV_LOG_LEVEL: 'info' }), PROD)).toEqual([]);
  });
  test('a per-client limit turned off (0) is refused in production only', () => {
    const off = svc({ CV_INFERENCE_RATE_LIMIT_PER_MINUTE: '0', CV_INFERENCE_RATE_LIMIT_UPLOADS_PER_DAY: '0' });
    expect(clientLimitsInProd(off, PROD)).toEqual([
      'service r: CV_INFERENCE_RATE_LIMIT_PER_MINUTE=0 turns a per-client limit off in production',
      'service r: CV_INFERENCE_RATE_LIMIT_UPLOADS_PER_DAY=0 turns a per-client limit off in production',
    ]);
    expect(clientLimitsInProd(off, DEV)).toEqual([]);
  });
});
