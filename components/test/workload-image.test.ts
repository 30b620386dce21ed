import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { runProgramMocked } from '../../stacks/mock-run';
import { BUILD_CONTEXT, DOCKERFILE, WorkloadImage } from '../workload-image';

/** The one workload image, under the recording mocks, from the working directory the Pulumi CLI would use. */
const REPO = path.resolve(__dirname, '../..');
const CONFIG = { 'gcp:project': 'p-123456', 'gcp:region': 'europe-west1' };
const args = { imagePrefix: 'europe-west1-docker.pkg.dev/p-123456/cv-x-images', server: 'europe-west1-docker.pkg.dev', tag: 'x' };

describe('WorkloadImage', () => {
  const cwd = process.cwd();
  afterEach(() => process.chdir(cwd));

  test('builds one image from the repository root and workloads/Dockerfile, whatever the working directory', async () => {
    // Pulumi.yaml's `main` is the program's working directory under the CLI (issue 12 defect 1).
    process.chdir(path.join(REPO, 'stacks'));
    const { resources } = await runProgramMocked('unit', CONFIG, () => new WorkloadImage('image', args));
    const images = resources.filter((r) => r.type === 'docker:index/image:Image');
    expect(images).toHaveLength(1);
    const build = images[0].inputs.build as Record<string, unknown>;
    expect(build).toMatchObject({
      context: REPO,
      dockerfile: path.join(REPO, 'workloads', 'Dockerfile'),
      platform: 'linux/amd64',
      args: {},
    });
    expect([BUILD_CONTEXT, existsSync(DOCKERFILE)]).toEqual([REPO, true]);
    expect(images[0].inputs.imageName).toBe('europe-west1-docker.pkg.dev/p-123456/cv-x-images/workloads:x');
  });

  test('the base image, pinnable by digest, reaches the build as NODE_IMAGE; the digest is what consumers get', async () => {
    const pinned = `node:22-bookworm-slim@sha256:${'b'.repeat(64)}`;
    let digest: string | undefined;
    const { resources } = await runProgramMocked('unit', CONFIG, () => {
      const image = new WorkloadImage('image', { ...args, baseImage: pinned });
      image.digest.apply((d) => (digest = d));
    });
    const build = resources.find((r) => r.type === 'docker:index/image:Image')!.inputs.build as Record<string, unknown>;
    expect(build.args).toEqual({ NODE_IMAGE: pinned });
    expect(digest).toMatch(/^europe-west1-docker\.pkg\.dev\/p-123456\/cv-x-images\/workloads@sha256:[0-9a-f]{64}$/);
  });
});
