import type { Split } from '../layout';

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
  splits: Record<Split, SplitManifest>;
  /** Every example in the version, with where it came from. */
  sources: SourceEntry[];
  counts: {
    rawObjects: number;
    written: number;
    newExamples: number;
    replayExamples: number;
    duplicates: number;
    skipped: Record<string, number>;
  };
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
  origin: 'new' | 'replay';
}
