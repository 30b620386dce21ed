/**
 * TFRecord feature keys of a Creature Vision example, defined once (the conventional
 * keys of TensorFlow's image datasets, so `tf.data` pipelines read our files unchanged).
 */
export const FEATURE_KEYS = {
  encoded: 'image/encoded',
  format: 'image/format',
  height: 'image/height',
  width: 'image/width',
  label: 'image/class/label',
  text: 'image/class/text',
  /** SHA-256 of the raw source bytes: the example's identity across versions. */
  sourceId: 'image/source_id',
} as const;

/** The decoded form of one example. */
export interface DogExample {
  /** JPEG bytes, `imageSize × imageSize`, RGB. */
  jpeg: Buffer;
  format: 'jpeg';
  height: number;
  width: number;
  /** Index into the version's label map. */
  label: number;
  /** Breed label (the label map entry). */
  text: string;
  sourceId: string;
}
