import type { Split } from '../layout';
import type { RawLabel } from './raw-label';
import type { TrustedBy } from './trust';

/**
 * `manifest.json` of a dataset version, written last: a version folder without one is an
 * interrupted run and is ignored by every reader.
 */
export interface DatasetManifest {
  version: string;
  parentVersion: string | null;
  /**
   * The claim object that commits this version (`datasetKeys.claim(parentVersion)`); the
   * version exists only while that object names it. Absent in versions written before
   * claims existed, which are complete once their manifest is.
   */
  claim?: string;
  createdAt: string;
  runId: string | null;
  format: 'tfrecord';
  compression: 'NONE' | 'GZIP';
  imageSize: number;
  /** The label map: `image/class/label` indexes this list. Grows, never reorders. */
  labels: string[];
  /**
   * Set on versions that are a snapshot of all trusted labelled data to date: their shard
   * lists are the parent's shards (by reference, never copied) followed by their own new
   * shards. Versions without it hold only what their own shards hold.
   */
  snapshot?: true;
  splits: Record<Split, SplitManifest>;
  /** Every example in the version, with where it came from. */
  sources: SourceEntry[];
  /** The evaluation set (the `test` split) as frozen in this version: the same photos score every model judged on it. */
  evaluation?: EvaluationSetSummary;
  /** Key (datasets bucket) of the training sampling weights (sampling.json), if any example weighs more than 1. */
  sampling?: string;
  counts: {
    rawObjects: number;
    /** Examples in the version (all splits). */
    written: number;
    newExamples: number;
    /** Examples held by reference to the parent's shards. */
    inheritedExamples?: number;
    /** Examples copied from earlier versions: hard-example replay before snapshots, or carrying such versions into the first snapshot. */
    replayExamples: number;
    duplicates: number;
    skipped: Record<string, number>;
    /** Users' photos whose labels no trust policy has confirmed yet (not in the version). */
    pending?: number;
    /** New breeds with fewer than `preprocessing.minClassExamples` trusted photos, waiting (label → photos). */
    deferred?: Record<string, number>;
  };
}

export interface EvaluationSetSummary {
  n: number;
  perClass: Record<string, number>;
  /** SHA-256 over the sorted content hashes of its examples: two decisions on the same digest saw the same photos. */
  digest: string;
}

/** `sampling.json`: how often training draws each example per epoch (examples not listed: once). */
export interface SamplingWeights {
  policy: string;
  /** Content hash → weight (a whole number ≥ 2). */
  weights: Record<string, number>;
}

export interface SplitManifest {
  /** Shard object keys in the datasets bucket, in order. */
  shards: string[];
  count: number;
  perClass: Record<string, number>;
}

export interface SourceEntry {
  /** SHA-256 of the raw image bytes. */
  sha256: string;
  /** Raw object URI. */
  uri: string;
  label: string;
  split: Split;
  /** new: in this version's own shards; inherited: in an earlier version's shards, by reference; replay: copied into this version's shards. */
  origin: 'new' | 'inherited' | 'replay';
  /** The version whose shards hold it (absent: this version). */
  version?: string;
  /** Perceptual hash of the raw image (absent in versions made before perceptual hashes). */
  phash?: string;
  /** Who labelled it, and what made the label trusted. */
  source?: RawLabel['source'];
  trustedBy?: TrustedBy;
}
