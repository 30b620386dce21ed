import fastq, { queueAsPromised } from 'fastq';
import { availableParallelism } from 'node:os';
import type { WorkloadConfig } from '../core/config/schema';
import { displayName } from '../core/dogapi/breeds';
import { boundedCopy, NormalizedPixels, toModelInput } from '../core/images/normalize-image';
import type { OPEN_SET_VERDICTS, Row } from '../core/warehouse/tables';
import { withTimeout } from '../core/async';
import { DecodeTimeoutError } from './http-errors';
import type { ModelManager } from './models/model-manager';
import type { LoadedModel, WorkerPool } from './models/worker-pool';
import type { OpenSetAnswer, TopKEntry } from './schemas';

/**
 * One image through the serving models: validate + normalise (sharp, with a time limit),
 * then the champion and, in shadow, the challenger on the same pixels in one batch.
 */

export interface ModelResult {
  role: 'champion' | 'challenger';
  version: string;
  predictedLabel: string;
  confidence: number;
  topK: TopKEntry[];
}

export type OpenSetVerdict = (typeof OPEN_SET_VERDICTS)[number];

export interface PredictOutcome {
  image: NormalizedPixels;
  /** Champion first; empty when no model is loaded. */
  results: ModelResult[];
  /** The backbone's ImageNet head: probability mass on its dog classes (null without an ImageNet head or a model). */
  dogProbability: number | null;
  /** Decode + queue + predict, milliseconds. */
  latencyMs: number;
  /** Why there is no prediction, when `results` is empty. */
  noModelReason?: string;
  /** The bounded re-encoded copy to keep (`keepCopy`), when a model answered. */
  copy?: { jpeg: Buffer; width: number; height: number };
}

export class Predictor {
  /**
   * Image work in flight (decodes, the kept copy's re-encode) is bounded
   * (inference.decodeConcurrency, default one per core): sharp would otherwise start every
   * upload's decode at once, and a burst of large images would stall every request behind
   * them. The rest wait here, in order.
   */
  readonly decodes: queueAsPromised<() => Promise<unknown>, unknown>;

  constructor(
    private readonly config: WorkloadConfig,
    private readonly models: ModelManager,
    private readonly pool: WorkerPool,
  ) {
    this.decodes = fastq.promise((job: () => Promise<unknown>) => job(), config.inference.decodeConcurrency || availableParallelism());
  }

  private imageWork<T>(job: () => Promise<T>): Promise<T> {
    const ms = this.config.inference.decodeTimeoutMs;
    return this.decodes.push(() => withTimeout(job(), ms, () => new DecodeTimeoutError(ms))) as Promise<T>;
  }

  /**
   * Throws ImageRejectedError / DecodeTimeoutError for bad images. When no model is
   * loaded, still validates the image and returns no results. `keepCopy`: also re-encode
   * the bounded copy of the image that is stored (while the models predict).
   */
  async run(bytes: Buffer, options: { keepCopy?: boolean } = {}): Promise<PredictOutcome> {
    const started = performance.now();
    const { set, release } = this.models.acquire();
    try {
      const size = set.champion?.inputSize ?? this.config.model.inputSize;
      const limits = this.config.images;
      const image = await this.imageWork(() => toModelInput(bytes, size, limits));
      if (!set.champion)
        return {
          image,
          results: [],
          dogProbability: null,
          latencyMs: performance.now() - started,
          noModelReason: this.models.notReadyReason,
        };
      const copy = options.keepCopy ? this.imageWork(() => boundedCopy(bytes, limits.uploadMaxSide, limits)) : undefined;
      copy?.catch(() => undefined); // awaited below; not unhandled if predict fails first
      const served: Array<{ role: ModelResult['role']; model: LoadedModel }> = [{ role: 'champion', model: set.champion }];
      if (set.challenger) served.push({ role: 'challenger', model: set.challenger });
      const { probs, dogProbability } = await this.pool.predict(
        served.map((s) => s.model.version),
        image.pixels,
      );
      const k = this.config.inference.topK;
      const results = served.map((s, i) => {
        const topK = topKOf(s.model.labels, probs[i], k);
        return { role: s.role, version: s.model.version, predictedLabel: topK[0].label, confidence: topK[0].probability, topK };
      });
      return { image, results, dogProbability, latencyMs: performance.now() - started, copy: await copy };
    } finally {
      release();
    }
  }
}

/**
 * The open-set answer for one model's prediction: "not a dog" when the ImageNet head puts
 * less than `notADogBelow` of its probability on dog classes; else "a dog, but none of our
 * breeds" when the model's top-1 confidence is below `unknownBreedBelow`; else the breed.
 * Thresholds come from `inference.openSet` (calibrated by `npm run bench:open-set`).
 */
export function openSetVerdict(
  confidence: number,
  dogProbability: number | null,
  t: WorkloadConfig['inference']['openSet'],
): OpenSetVerdict {
  if (dogProbability !== null && dogProbability < t.notADogBelow) return 'not_a_dog';
  if (confidence < t.unknownBreedBelow) return 'unknown_breed';
  return 'breed';
}

/** What POST /classify says about the photo, in a word and in a sentence. */
export function openSetAnswerFor(
  champion: ModelResult,
  dogProbability: number | null,
  t: WorkloadConfig['inference']['openSet'],
): OpenSetAnswer {
  const verdict = openSetVerdict(champion.confidence, dogProbability, t);
  const message =
    verdict === 'not_a_dog'
      ? "This doesn't look like a dog."
      : verdict === 'unknown_breed'
        ? 'This looks like a dog, but none of the breeds this model knows.'
        : `This looks like a ${displayName(champion.predictedLabel)}.`;
  return { verdict, message, dogProbability: dogProbability === null ? null : round(dogProbability, 4) };
}

export function topKOf(labels: string[], probs: Float32Array, k: number): TopKEntry[] {
  return Array.from(probs, (p, i) => ({ label: labels[i], display: displayName(labels[i]), probability: round(p, 6) }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, Math.min(k, labels.length));
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Warehouse rows for one prediction: one per model role, or one `none` row when no model served. */
export function predictionRows(args: {
  outcome: PredictOutcome;
  requestId: string;
  predictionId: string;
  source: 'dogapi' | 'upload';
  imageUri: string;
  trueLabel: string | null;
  at: Date;
  openSet: WorkloadConfig['inference']['openSet'];
}): Row<'prediction_events'>[] {
  const { outcome, trueLabel } = args;
  const base = {
    ts: args.at,
    request_id: args.requestId,
    prediction_id: args.predictionId,
    source: args.source,
    image_uri: args.imageUri,
    true_label: trueLabel,
    latency_ms: round(outcome.latencyMs, 3),
  };
  if (outcome.results.length === 0) {
    return [
      {
        ...base,
        predicted_label: null,
        correct: null,
        confidence: null,
        model_version: null,
        role: 'none',
        top_k: '[]',
        open_set: null,
        dog_probability: null,
      },
    ];
  }
  return outcome.results.map((r) => ({
    ...base,
    predicted_label: r.predictedLabel,
    correct: trueLabel === null ? null : r.predictedLabel === trueLabel,
    confidence: r.confidence,
    model_version: r.version,
    role: r.role,
    top_k: JSON.stringify(r.topK.map((t) => ({ label: t.label, probability: t.probability }))),
    open_set: openSetVerdict(r.confidence, outcome.dogProbability, args.openSet),
    dog_probability: outcome.dogProbability === null ? null : round(outcome.dogProbability, 6),
  }));
}
