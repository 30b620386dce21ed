import type { Logger } from '../../core/log';
import { modelKeys, RegistryRole } from '../../core/layout';
import { isComplete } from '../../core/model/complete';
import { readPointer } from '../../core/model/registry';
import type { ObjectStore } from '../../core/storage/object-store';
import type { ModelFiles } from './protocol';
import type { LoadedModel, WorkerPool } from './worker-pool';

/**
 * Which model versions serve, and zero-downtime swaps between them.
 *
 * The registry pointers (production → champion, challenger → shadow) are polled. A new
 * version is loaded and warmed up in EVERY worker in the background; only then does one
 * assignment make it current. A request takes a {@link ServingSet} when it starts and
 * keeps it to the end (reference counted), so in-flight requests finish on the model they
 * started with, and an old version is unloaded only when its last request is done.
 */

export interface ServingSet {
  champion: LoadedModel | undefined;
  /** Shadow model: predicts on the same image, logged, never answers. */
  challenger: LoadedModel | undefined;
}

export interface ModelManagerOptions {
  store: ObjectStore;
  pool: WorkerPool;
  pollMs: number;
  shadowChallenger: boolean;
  logger: Logger;
  /**
   * Called when the registry has no production pointer, to give it a champion (model zero,
   * core/model/model-zero.ts); retried on later polls until a pointer exists. Returns why
   * it made none, or undefined when it did.
   */
  bootstrap?: () => Promise<string | undefined>;
}

/** Files a worker needs to load a version: metadata, label map, commit marker and the head. */
const VERSION_FILES = ['version.json', 'labels.json', 'COMPLETE.json'];
const HEAD_PREFIX = 'head/';

export class ModelManager {
  private current: ServingSet = { champion: undefined, challenger: undefined };
  private readonly refs = new Map<string, number>();
  /** Versions no longer current, waiting for their last request before being unloaded. */
  private readonly retiring = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  /** Versions that failed to load, by pointer generation, so a broken model is not retried every poll. */
  private readonly failed = new Map<RegistryRole, string>();
  private readonly readyWaiters: Array<() => void> = [];
  private closed = false;
  /** Why there is no champion, in words (for /readyz and 503s). */
  notReadyReason = 'the model registry has not been read yet';
  swaps = 0;

  constructor(private readonly options: ModelManagerOptions) {}

  /** Reads the pointers now, then every `pollMs`. Does not wait for a model. */
  start(): void {
    const tick = (): void => {
      this.timer = setTimeout(() => {
        void this.poll().finally(() => {
          if (!this.closed) tick();
        });
      }, this.options.pollMs);
      this.timer.unref();
    };
    void this.poll().finally(() => {
      if (!this.closed) tick();
    });
  }

  get ready(): boolean {
    return this.current.champion !== undefined;
  }

  /** Resolves once a champion is serving (tests, warm start). */
  whenReady(timeoutMs = 60_000): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no model became ready within ${timeoutMs} ms: ${this.notReadyReason}`)), timeoutMs);
      this.readyWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** The serving set for one request; call `release` when the request is done with it. */
  acquire(): { set: ServingSet; release: () => void } {
    const set = this.current;
    const versions = [set.champion?.version, set.challenger?.version].filter((v): v is string => v !== undefined);
    for (const v of versions) this.refs.set(v, (this.refs.get(v) ?? 0) + 1);
    let released = false;
    return {
      set,
      release: () => {
        if (released) return;
        released = true;
        for (const v of versions) {
          const n = (this.refs.get(v) ?? 1) - 1;
          if (n > 0) this.refs.set(v, n);
          else this.refs.delete(v);
        }
        void this.unloadRetired();
      },
    };
  }

  /** One pass over both pointers; concurrent calls share the pass. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
  }

  private async pollOnce(): Promise<void> {
    try {
      const champion = await this.resolveRole('production', this.current.champion);
      const challenger = this.options.shadowChallenger ? await this.resolveRole('challenger', this.current.challenger) : undefined;
      // A challenger equal to the champion, or of another input size, adds nothing to shadow.
      const shadow =
        challenger && champion && challenger.version !== champion.version && challenger.inputSize === champion.inputSize
          ? challenger
          : undefined;
      this.swap({ champion, challenger: shadow });
    } catch (err) {
      this.options.logger.error({ err }, `reading the model registry failed: ${(err as Error).message}`);
      if (!this.current.champion) this.notReadyReason = `the model registry cannot be read: ${(err as Error).message}`;
    }
  }

  /** The model a role should serve: the current one, a newly loaded one, or none. */
  private async resolveRole(role: RegistryRole, have: LoadedModel | undefined): Promise<LoadedModel | undefined> {
    const { store, logger } = this.options;
    let { pointer, generation } = await readPointer(store, role);
    let noZero: string | undefined;
    if (!pointer && role === 'production' && this.options.bootstrap) {
      noZero = await this.options.bootstrap().catch((err: Error) => {
        logger.error({ err, event: 'model_zero_failed' }, `cannot create model zero: ${err.message}`);
        return `model zero could not be created: ${err.message}`;
      });
      ({ pointer, generation } = await readPointer(store, role));
    }
    if (!pointer) {
      if (role === 'production')
        this.notReadyReason = `no model has been promoted yet (the registry has no production pointer${noZero ? `; ${noZero}` : ''})`;
      return undefined;
    }
    if (have?.version === pointer.version) return have;
    if (this.failed.get(role) === generation) return have;
    logger.info({ event: 'model_loading', role, model_version: pointer.version }, `loading ${role} model ${pointer.version}`);
    try {
      if (!(await isComplete(store, pointer.version))) throw new Error(`model version ${pointer.version} is not complete`);
      const model = await this.options.pool.load(pointer.version, await this.readFiles(pointer.version));
      this.failed.delete(role);
      return model;
    } catch (err) {
      this.failed.set(role, generation);
      logger.error(
        { err, event: 'model_load_failed', role, model_version: pointer.version },
        `cannot load ${role} model ${pointer.version}: ${(err as Error).message}; keeping ${have?.version ?? 'no model'}`,
      );
      if (role === 'production' && !have)
        this.notReadyReason = `the production model ${pointer.version} cannot be loaded: ${(err as Error).message}`;
      return have;
    }
  }

  private async readFiles(version: string): Promise<ModelFiles> {
    const { store } = this.options;
    const files: ModelFiles = {};
    const keys = [
      ...VERSION_FILES.map((f) => modelKeys.file(version, f)),
      ...(await store.list(modelKeys.file(version, HEAD_PREFIX))).map((o) => o.key),
    ];
    for (const key of keys) files[key] = new Uint8Array(await store.read(key));
    return files;
  }

  /** The atomic switch: one assignment. Versions left behind retire when unused. */
  private swap(next: ServingSet): void {
    const prev = this.current;
    if (prev.champion?.version === next.champion?.version && prev.challenger?.version === next.challenger?.version) return;
    this.current = next;
    this.swaps++;
    this.options.logger.info(
      {
        event: 'model_swap',
        champion: next.champion?.version ?? null,
        challenger: next.challenger?.version ?? null,
        previous_champion: prev.champion?.version ?? null,
        previous_challenger: prev.challenger?.version ?? null,
      },
      `serving champion ${next.champion?.version ?? '(none)'}${next.challenger ? `, shadow challenger ${next.challenger.version}` : ''}`,
    );
    const still = new Set([next.champion?.version, next.challenger?.version]);
    for (const v of [prev.champion?.version, prev.challenger?.version]) if (v && !still.has(v)) this.retiring.add(v);
    for (const v of still) if (v) this.retiring.delete(v);
    if (next.champion) {
      for (const w of this.readyWaiters.splice(0)) w();
    }
    void this.unloadRetired();
  }

  private async unloadRetired(): Promise<void> {
    for (const v of [...this.retiring]) {
      if ((this.refs.get(v) ?? 0) > 0) continue;
      this.retiring.delete(v);
      await this.options.pool.unload(v);
      this.options.logger.info({ event: 'model_unloaded', model_version: v }, `model ${v} unloaded (no request uses it)`);
    }
  }
}
