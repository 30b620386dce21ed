import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { BackboneName } from '../workloads/core/config/schema';
import { modelKeys } from '../workloads/core/layout';
import { offlineBackbone } from '../workloads/core/model/catalog';
import { REPO_ROOT } from './repo-artifacts';

/**
 * The files of an offline backbone (one in `../shared/models`), as the stack uploads them to
 * the models bucket: each part's model.json and the weight shards it lists (nothing else of
 * the directory), under a prefix named by the digest of those files. The containers have no
 * `../shared`, and the cloud build has no internet: the stack ships the copy it was run with.
 */
export interface BackboneFile {
  /** Object key in the models bucket. */
  key: string;
  /** Absolute path of the local file. */
  source: string;
  contentType: string;
}

export interface BackboneFiles {
  /** sha256 of the files' paths and contents (first 32 hex digits): the content address. */
  digest: string;
  files: BackboneFile[];
  /** The key `model.backboneUrl` names in the bucket (the backbone's folder, or its model.json). */
  locationKey: string;
}

/** The models directory a stack config names: relative paths are from the project root (never the working directory). */
export function resolveModelsDir(dir: string): string {
  return path.resolve(REPO_ROOT, dir);
}

/** The files of `backbone` in `modelsDir` and their content address; null for a backbone loaded from the web. */
export function backboneFiles(backbone: BackboneName, modelsDir: string): BackboneFiles | null {
  const offline = offlineBackbone(backbone);
  if (!offline) return null;
  const relative: string[] = [];
  for (const modelJson of offline.modelJsons) {
    const file = path.join(modelsDir, modelJson);
    let manifest: { weightsManifest?: Array<{ paths?: string[] }> };
    try {
      manifest = JSON.parse(readFileSync(file, 'utf8')) as typeof manifest;
    } catch (err) {
      throw new Error(
        `backbone ${backbone}: cannot read ${file} (${(err as Error).message}); creature-vision:backboneDir must name the ` +
          `directory holding ${offline.location} (relative paths are from the project root ${REPO_ROOT})`,
        { cause: err },
      );
    }
    const dir = path.posix.dirname(modelJson);
    relative.push(modelJson, ...(manifest.weightsManifest ?? []).flatMap((g) => g.paths ?? []).map((p) => path.posix.join(dir, p)));
  }
  const sorted = [...new Set(relative)].sort();
  const hash = createHash('sha256');
  for (const rel of sorted) {
    const content = readFileSync(path.join(modelsDir, rel));
    hash.update(`${rel}\0${content.length}\0`).update(content);
  }
  const digest = hash.digest('hex').slice(0, 32);
  const prefix = modelKeys.backbones(digest);
  return {
    digest,
    files: sorted.map((rel) => ({
      key: `${prefix}${rel}`,
      source: path.join(modelsDir, rel),
      contentType: rel.endsWith('.json') ? 'application/json' : 'application/octet-stream',
    })),
    locationKey: `${prefix}${offline.location}`,
  };
}
