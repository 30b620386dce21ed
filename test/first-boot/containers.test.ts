import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { containerArgv, ENTRY_POINTS, IMAGE_USER } from '../../workloads/core/entry-points';
import { assertReadableBy, runtimeStage } from './containers';

/** The first-boot image's checks against what entry-points.ts assumes of the Dockerfile (fast: no build). */
const DOCKERFILE = readFileSync(path.resolve(__dirname, '../../workloads/Dockerfile'), 'utf8');
const user = { uid: IMAGE_USER.uid, gid: IMAGE_USER.gid };

describe('the first-boot image', () => {
  test(`the Dockerfile's runtime stage runs as ${IMAGE_USER.name}, with the inference service as its default command`, () => {
    const stage = runtimeStage(DOCKERFILE);
    expect(stage.user).toBe(IMAGE_USER.name);
    expect(stage.cmd).toEqual(containerArgv(ENTRY_POINTS.inferenceService));
  });

  test('refuses a runtime stage that runs as anyone else, or as root for want of a USER', () => {
    const runtime = DOCKERFILE.lastIndexOf('\nFROM ');
    const withoutUser = DOCKERFILE.replace(/^USER .*$/gm, '');
    expect(() => runtimeStage(withoutUser)).toThrow(
      `the Dockerfile's runtime stage runs as "root", not as ${IMAGE_USER.name} (uid ${IMAGE_USER.uid})`,
    );
    expect(() => runtimeStage(DOCKERFILE.replace(/^USER node$/m, 'USER 1001'))).toThrow('runs as "1001"');
    // A USER in the build stage only: the runtime stage still runs as root.
    const inBuildStage = withoutUser.slice(0, runtime) + '\nUSER node' + withoutUser.slice(runtime);
    expect(() => runtimeStage(inBuildStage)).toThrow('runs as "root"');
  });

  (process.getuid?.() === 0 ? test : test.skip)(
    `refuses an image whose dependencies uid ${IMAGE_USER.uid} cannot reach, naming the directory in the way`,
    async () => {
      // A checkout under a private directory (like /root), its node_modules symlinked from the image's directory.
      const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-first-boot-readable-'));
      try {
        const privateDir = path.join(tmp, 'private');
        const fastify = path.join(privateDir, 'checkout', 'node_modules', 'fastify');
        await fs.mkdir(fastify, { recursive: true });
        await fs.writeFile(path.join(fastify, 'package.json'), '{"name":"fastify","main":"index.js"}');
        await fs.writeFile(path.join(fastify, 'index.js'), '');
        const workdir = path.join(tmp, 'app');
        await fs.mkdir(workdir);
        await fs.symlink(path.join(privateDir, 'checkout', 'node_modules'), path.join(workdir, 'node_modules'));
        await fs.chmod(tmp, 0o755);
        await fs.chmod(privateDir, 0o700);
        await expect(assertReadableBy(workdir, user)).rejects.toThrow(
          `${privateDir} is not searchable by it. Let others traverse it (chmod o+x ${privateDir}`,
        );
        await fs.chmod(privateDir, 0o711);
        await expect(assertReadableBy(workdir, user)).resolves.toBeUndefined();
      } finally {
        await fs.rm(tmp, { recursive: true, force: true });
      }
    },
  );
});
