/**
 * Cosine-decay learning rate (SGDR without restarts): lr(t) = lr0 · (α + (1−α)·½(1 + cos(π·t/T))).
 * TensorFlow.js has no learning-rate schedules (Keras's `CosineDecay` has no tfjs
 * counterpart and tfjs optimizers take a plain number), so the training loop computes the
 * rate per step and sets it on the optimizer before each update.
 */
export function cosineDecay(lr0: number, step: number, totalSteps: number, alpha = 0.02): number {
  const t = Math.min(Math.max(step, 0), totalSteps) / Math.max(1, totalSteps);
  return lr0 * (alpha + (1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * t)));
}
