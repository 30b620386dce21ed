import { z } from 'zod';
import { type BucketName, BUCKETS } from '../layout';

/**
 * The configuration of every workload, defined once. Workloads read it from the
 * environment (see ./load.ts); the Pulumi stacks validate the same sections from stack
 * config and pass them to the services as environment variables (stacks/config.ts).
 * Defaults are the embedded local defaults `npm start` runs on.
 */

const nonEmpty = z.string().min(1, 'must not be empty');
const share = z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
const positiveInt = z.number().int('must be a whole number').positive('must be greater than 0');

export const BACKBONES = ['mobilenet_v2_100', 'mobilenet_v2_035', 'mobilenet_v3_small'] as const;
export type BackboneName = (typeof BACKBONES)[number];
/** Input sizes each backbone's weights are used at; the first is its native size. */
export const BACKBONE_INPUT_SIZES: Record<BackboneName, readonly number[]> = {
  mobilenet_v2_100: [224, 192, 160],
  mobilenet_v2_035: [224],
  mobilenet_v3_small: [224],
};

export const storageSchema = z
  .object({
    backend: z.enum(['local', 'gcs']).default('local'),
    /** Bucket names per logical bucket (gcs), or directory names under the data root (local). */
    buckets: z
      .object(Object.fromEntries(BUCKETS.map((b) => [b, nonEmpty.default(b)])) as Record<BucketName, z.ZodDefault<z.ZodString>>)
      .prefault({}),
  })
  .prefault({});

export const warehouseSchema = z
  .object({
    backend: z.enum(['duckdb', 'http', 'bigquery']).default('duckdb'),
    /** DuckDB file; relative paths are under the data root. */
    duckdbFile: nonEmpty.default('warehouse.duckdb'),
    /** Base URL of the local warehouse owner, for backend `http`. */
    url: z.string().default(''),
    /** The owner's per-run token (backend `http`); `npm start` hands it to the processes it starts. */
    token: z.string().optional(),
    projectId: z.string().default(''),
    dataset: z
      .string()
      .regex(/^[A-Za-z0-9_]{1,1024}$/, 'must be letters, digits and underscores')
      .default('creature_vision'),
    location: z.string().default('EU'),
  })
  .prefault({});

export const dogApiSchema = z
  .object({
    /** Dog CEO API base URL (https://dog.ceo); empty means the local server over `datasetDir`. */
    baseUrl: z.string().default(''),
    datasetDir: nonEmpty.default('../shared/datasets/dogs'),
    timeoutMs: positiveInt.default(10_000),
    /** Hosts the API's image URLs may point at, over https; a local API's own origin is allowed as well. */
    imageHosts: z
      .array(z.string().regex(/^[a-z0-9.-]+$/i, 'must be a host name such as images.dog.ceo (no scheme, port or path)'))
      .default(['images.dog.ceo']),
    /** Labels ingestion accepts from the API; empty = the breed table (workloads/core/dogapi/breeds.ts). */
    breeds: z.array(z.string().regex(/^[a-z0-9_]+$/, 'must be a label such as golden_retriever')).default([]),
  })
  .prefault({});

export const modelSchema = z
  .object({
    /** mobilenet_v2_100 by default: the measurements behind the choice are in workloads/training/README.md. */
    backbone: z.enum(BACKBONES).default('mobilenet_v2_100'),
    /**
     * Where the backbone is (a path, or a file://, gs:// or https:// URL; on Google Cloud the stack sets a gs:// one): the model.json for
     * mobilenet_v2_035 and mobilenet_v3_small, the folder holding features/,
     * features_graph/ and imagenet_head/ for mobilenet_v2_100. Empty: the default for the backbone.
     */
    backboneUrl: z.string().default(''),
    /** Pixels per side the backbone sees; mobilenet_v2_100 accepts 160, 192 or 224, the others 224 only. */
    inputSize: positiveInt.default(224),
    /**
     * Serve a zero-shot "model zero" (the backbone's ImageNet head restricted to the breed
     * table's ImageNet classes) while the registry has no champion, so a new stack answers
     * from its first second. Only backbones with an ImageNet head (mobilenet_v2_100) have one.
     */
    zeroShot: z.boolean().default(true),
  })
  .superRefine((m, ctx) => {
    const sizes = BACKBONE_INPUT_SIZES[m.backbone];
    if (!sizes.includes(m.inputSize))
      ctx.addIssue({ code: 'custom', path: ['inputSize'], message: `backbone ${m.backbone} takes input sizes ${sizes.join(', ')}` });
  })
  .prefault({});

export const imagesSchema = z
  .object({
    maxBytes: positiveInt.default(15 * 1024 * 1024),
    /**
     * Width × height, read from the header before decoding. The model sees 224×224; 16.7 MP
     * (4096²) still takes a 12 MP phone photo, while a 49 MP decompression bomb (a 2 KB WebP
     * costs ~100× a photo's CPU to decode) is refused unread.
     */
    maxPixels: positiveInt.default(4096 * 4096),
    minSide: positiveInt.default(8),
    /** An upload is kept as a JPEG of at most this many pixels on its longer side (the model needs 224). */
    uploadMaxSide: positiveInt.default(512),
  })
  .prefault({});

export const inferenceSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    topK: positiveInt.max(20).default(5),
    shadowChallenger: z.boolean().default(true),
    pointerPollMs: positiveInt.default(3000),
    /** Inference worker threads; 0 means one per core. */
    workers: z.number().int().min(0).default(0),
    /** Images per worker batch. 4: larger batches gained nothing measurable (bench:inference) and grow each worker's WASM heap for good. */
    maxBatch: positiveInt.default(4),
    maxBatchDelayMs: z.number().min(0).default(2),
    warehouseFlushMs: positiveInt.default(1000),
    /**
     * Every prediction and feedback row is in the raw bucket before the answer is sent, so a
     * killed instance (SIGKILL, OOM) loses none: one small object per burst of requests,
     * deleted once the rows are written. Off: rows of the last warehouseFlushMs are in memory only.
     */
    warehouseWriteAhead: z.boolean().default(true),
    /** An image that takes longer to decode is refused (400), so one bad upload cannot stall a request. */
    decodeTimeoutMs: positiveInt.default(10_000),
    /** The whole request (headers and body) must arrive within this; a slower client is cut off (408). */
    requestTimeoutMs: positiveInt.default(60_000),
    /** Images decoded at once per instance (sharp); 0 = one per core. Others wait their turn. */
    decodeConcurrency: z.number().int().min(0).default(0),
    /**
     * Proxies in front of the service whose X-Forwarded-For entry is trusted to name the
     * client (Cloud Run: 1, its front end); 0 = the socket's peer is the client. A client's
     * own X-Forwarded-For entries are never trusted beyond these hops.
     */
    trustProxyHops: z.number().int().min(0).default(0),
    /**
     * Per-client limits on the public routes (client = IP address, see trustProxyHops);
     * counted in memory per instance. 0 turns a limit off.
     */
    rateLimit: z
      .object({
        /** Requests per minute to any public route. */
        perMinute: z.number().int().min(0).default(120),
        /** Uploads (POST /classify) per day. */
        uploadsPerDay: z.number().int().min(0).default(200),
      })
      .prefault({}),
    /**
     * Who may call the internal routes (GET /predict, the Scheduler's ingestion call, and
     * GET /status): a Google-signed OIDC ID token (Authorization: Bearer) for `audience`,
     * issued to the service account `serviceAccount` (its verified email). The stack sets
     * both: the service's own URL and the Scheduler's account. Unset: the internal routes
     * refuse every call (403).
     */
    ingestAuth: z
      .object({
        audience: z.string().default(''),
        serviceAccount: z.string().default(''),
        /** Where the token-signing certificates are (PEM JSON); empty = Google's. The local supervisor and tests serve their own. */
        certsUrl: z.string().default(''),
      })
      .prefault({}),
    /**
     * Uploads nobody labelled are deleted after this many days (swept locally). In the cloud
     * the raw bucket's lifecycle rule deletes them and the stack sets this from the same
     * stack key (dataLake.unlabelledUploadsExpireDays), so the two cannot disagree.
     */
    unlabelledUploadDays: positiveInt.default(30),
    /**
     * Graceful shutdown: how long in-flight requests may take to finish after SIGTERM. At
     * most 6 s: the warehouse writes need the rest of the 10 s Cloud Run allows before SIGKILL.
     */
    shutdownGraceMs: positiveInt.max(6000, 'must be at most 6000 (Cloud Run kills 10 s after SIGTERM)').default(5000),
    /**
     * Open-set answers of POST /classify (calibrated by `npm run bench:open-set`, see
     * workloads/inference/README.md): "this doesn't look like a dog" when the ImageNet
     * head's probability mass on its dog classes is below `notADogBelow` (backbones with an
     * ImageNet head only); "a dog, but none of our breeds" when the champion's top-1
     * confidence is below `unknownBreedBelow`. 0 turns either answer off. The defaults
     * are the benchmark's choices on mobilenet_v2_100: 0.26 rejects ≤ 1% of the dog photos
     * it was calibrated on, 0.38 turns away ≤ 5% of known-breed validation photos.
     */
    openSet: z
      .object({
        notADogBelow: share.default(0.26),
        unknownBreedBelow: share.default(0.38),
      })
      .prefault({}),
  })
  .prefault({});

export const preprocessingSchema = z
  .object({
    shardMaxBytes: positiveInt.default(32 * 1024 * 1024),
    gzip: z.boolean().default(false),
    validationShare: share.default(0.1),
    /**
     * Share of each class that goes to the evaluation set (the `test` split): the trusted,
     * never-trained-on photos the gate judges champion and challenger on. Allocated per class
     * (stratified) as data arrives; an example's split never changes once assigned.
     */
    testShare: share.default(0.2),
    /** Every class keeps at least this many evaluation photos (when it has twice as many in all), so the gate can judge it. */
    evalMinPerClass: positiveInt.default(5),
    /**
     * A breed enters the label map (and training) once it has this many trusted photos; a
     * smaller arrival waits in the raw bucket, counted, until enough has accumulated.
     */
    minClassExamples: positiveInt.default(10),
    /** Sampling weight of an example some model got wrong (hard-example curation): seen this many times per epoch. */
    hardExampleWeight: z.number().int().min(1).max(8).default(2),
    jpegQuality: z.number().int().min(1).max(100).default(90),
    imageSize: positiveInt.default(224),
    /** Worker threads for decode/resize/encode; 0 runs sharp in-process (its libuv pool already uses every core; a pool measured no faster). */
    workers: z.number().int().min(0).default(0),
    /** Images in flight at once (16 measured faster than 8 on 2 cores: reads and image work overlap). */
    concurrency: positiveInt.default(16),
    /**
     * Who runs the transform stage of a whole run (workloads/preprocessing/engines/):
     * `in-process` (this process), `local-tasks` (N child processes of the same CLI, one per
     * task index) or `cloud-run-job` (N tasks of the Cloud Run job below). Plan and commit
     * always run in the calling process.
     */
    engine: z.enum(['in-process', 'local-tasks', 'cloud-run-job']).default('in-process'),
    /** Transform tasks for `local-tasks` / `cloud-run-job`; 0 = one per core of this machine (local-tasks only). */
    tasks: z.number().int().min(0).default(0),
    /** The Cloud Run job that runs the transform tasks (engine `cloud-run-job`; the stack sets it). */
    cloudRunJob: z
      .object({
        project: z.string().default(''),
        region: z.string().default(''),
        name: z.string().default(''),
        /** Base URL of the Cloud Run Admin API; empty = https://run.googleapis.com (tests point it at a stand-in). */
        apiEndpoint: z.string().default(''),
        /** Seconds between polls of the execution's long-running operation. */
        pollSeconds: z.number().positive().default(10),
      })
      .prefault({}),
  })
  .prefault({});

export const trainingSchema = z
  .object({
    epochs: positiveInt.default(12),
    batchSize: positiveInt.default(32),
    learningRate: z.number().positive().default(0.001),
    /** Extra epochs that unfreeze the top of the backbone at `fineTuneLearningRate`. 0 disables. */
    fineTuneEpochs: z.number().int().min(0).default(0),
    fineTuneLearningRate: z.number().positive().default(0.0001),
    fineTuneLayers: z.number().int().min(0).default(20),
    patience: positiveInt.default(3),
    dropout: share.default(0.2),
    l2: z.number().min(0).default(0.0001),
    /** Label smoothing of the cross-entropy targets. */
    labelSmoothing: z.number().min(0).max(0.5).default(0.1),
    augment: z
      .object({
        rotationDegrees: z.number().min(0).max(180).default(10),
        horizontalFlip: z.boolean().default(true),
        brightness: share.default(0.15),
        /** Augmented copies per training image (their trunk activations are cached). 0 disables augmentation. */
        variants: z.number().int().min(0).max(8).default(2),
      })
      .prefault({}),
    /** Feature-extraction worker threads; 0 means one per core. */
    workers: z.number().int().min(0).default(0),
    seed: z.number().int().default(42),
  })
  .prefault({});

export const gateSchema = z
  .object({
    /**
     * Significance level of the gate's paired test (exact one-sided McNemar): a challenger is
     * promoted only when the chance of seeing its improvement on the evaluation set by luck
     * alone is below this. Also the level of every interval the gate reports and of its
     * per-class checks.
     */
    alpha: z.number().gt(0, 'must be between 0 and 0.5').max(0.5, 'must be between 0 and 0.5').default(0.05),
    /** The improvement's lower bound (at `alpha`) must be at least this (0: any significant improvement). */
    minMargin: z.number().min(0).max(1).default(0),
    /** The gate decides nothing on fewer evaluation photos than this. */
    minTestExamples: positiveInt.default(30),
    /** Forgetting: a class whose recall falls significantly (at `alpha`) and by more than this rejects the challenger. */
    maxClassDrop: share.default(0.15),
    /** No class's recall may be below its floor beyond the class's own uncertainty (its upper bound at `alpha`). */
    classFloor: share.default(0.5),
    /** Per-class floors, overriding `classFloor` (e.g. {"pug": 0.7}). */
    classFloors: z.record(z.string(), share).default({}),
    /** With no production model at all: the first model's top-1 lower bound must reach this. */
    floorTop1: share.default(0.3),
    requireShadow: z.boolean().default(false),
    minShadowPredictions: positiveInt.default(30),
  })
  .prefault({});

export const trustSchema = z
  .object({
    /**
     * A user's label is trusted once this many independent users (distinct voters) gave the
     * same label to the same photo or its near-duplicates, and they are a majority of its
     * voters. 0 turns the policy off (then only operator review trusts user labels).
     */
    agreementVoters: z.number().int().min(0).default(3),
    /**
     * A user's correction is trusted when the model that served the prediction gave the
     * corrected label at least this probability. Corrections only: a confirmation agrees
     * with the model by definition, which is no evidence. 0 turns the policy off.
     */
    championMinProbability: share.default(0),
    /** Photos whose perceptual hashes differ in at most this many of 64 bits are one photo (one fate, one split, one vote). */
    nearDuplicateBits: z.number().int().min(0).max(7).default(6),
    /** SHA-256 (hex) of the operator token the review page and its routes require; empty: the routes are off. */
    reviewTokenSha256: z
      .string()
      .regex(/^([0-9a-f]{64})?$/, 'must be empty or 64 lowercase hex digits (sha256 of the token)')
      .default(''),
  })
  .prefault({});

export const triggerSchema = z
  .object({
    minNewLabelled: positiveInt.default(250),
    driftMargin: share.default(0.1),
    driftMinPredictions: positiveInt.default(50),
    driftWindowMinutes: positiveInt.default(60),
    maxIntervalHours: z.number().positive().default(168),
    /** Cron of the retraining check (5 fields on Cloud Scheduler; croner accepts seconds locally). */
    cron: nonEmpty.default('*/10 * * * * *'),
  })
  .prefault({});

export const ingestSchema = z
  .object({
    /** Cron of ingestion calls to GET /predict. */
    cron: nonEmpty.default('* * * * * *'),
    /** Calls per tick. */
    perTick: positiveInt.default(4),
  })
  .prefault({});

export const monitoringSchema = z
  .object({
    /** How often the local dashboard page polls for new data. */
    refreshSeconds: positiveInt.default(5),
    /** Alert thresholds, shared by the local dashboard banner and the Cloud Monitoring policies. */
    alerts: z
      .object({
        accuracyMin: share.default(0.6),
        accuracyWindowMinutes: positiveInt.default(60),
        accuracyMinSamples: positiveInt.default(20),
        errorRateMax: share.default(0.05),
        errorRateWindowMinutes: positiveInt.default(15),
        errorRateMinRequests: positiveInt.default(20),
        latencyP95MaxMs: z.number().positive().default(500),
        latencyWindowMinutes: positiveInt.default(15),
        ingestionSilenceMinutes: positiveInt.default(15),
        pipelineFailureWindowMinutes: positiveInt.default(24 * 60),
      })
      .prefault({}),
  })
  .prefault({});

export const pipelineSchema = z
  .object({
    /** Where a fired trigger runs the pipeline: the local runner, or Vertex AI Pipelines. */
    runner: z.enum(['local', 'vertex']).default('local'),
    projectId: z.string().default(''),
    region: z.string().default('europe-west1'),
    /** Service account the Vertex pipeline job runs as (email). */
    serviceAccount: z.string().default(''),
    /**
     * The stack this trigger belongs to (a GCP label value). Its Vertex runs carry the label
     * `stack`, and "a run is in progress" looks only at that stack's runs, so two stacks in one
     * project do not block each other. Empty: no stack label (local runs).
     */
    stack: z
      .string()
      .regex(/^[a-z0-9_-]{0,63}$/, 'must be a GCP label value: up to 63 lowercase letters, digits, _ or -')
      .default(''),
    /** Vertex `runtimeConfig.gcsOutputDirectory`; empty means gs://<pipeline bucket>/vertex. */
    pipelineRoot: z.string().default(''),
    /** Vertex AI API base URL; empty means https://<region>-aiplatform.googleapis.com. */
    apiEndpoint: z.string().default(''),
    /** Digest reference of the workload image, bound into the spec's image token on submission. */
    image: z.string().default(''),
  })
  .prefault({});

export const workloadConfigSchema = z
  .object({
    /** Local data root: buckets as directories, the DuckDB file, logs. */
    dataRoot: nonEmpty.default('.creature-vision'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** `gcp`: Cloud Logging's structured format; `auto`: that on Google Cloud, plain pino elsewhere (core/log.ts). */
    logFormat: z.enum(['auto', 'gcp', 'plain']).default('auto'),
    storage: storageSchema,
    warehouse: warehouseSchema,
    dogApi: dogApiSchema,
    model: modelSchema,
    images: imagesSchema,
    inference: inferenceSchema,
    preprocessing: preprocessingSchema,
    training: trainingSchema,
    gate: gateSchema,
    trust: trustSchema,
    trigger: triggerSchema,
    pipeline: pipelineSchema,
    ingest: ingestSchema,
    monitoring: monitoringSchema,
  })
  .strict();

export type WorkloadConfig = z.infer<typeof workloadConfigSchema>;
