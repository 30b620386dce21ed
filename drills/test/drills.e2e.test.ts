import { newBreedDrill } from '../new-breed';
import { noiseDrill } from '../noise';
import { poisonDrill } from '../poison';

/**
 * Short versions of the trust drills (the full ones: npm run drill:noise|new-breed|poison),
 * on a few breeds and small batches, so CI exercises the loop's trust end to end: the gate
 * against held-back photos, a breed arriving mid-run, and a hostile client through the real
 * service. Slow (minutes): CV_E2E=1 only.
 */
const maybe = process.env.CV_E2E ? describe : describe.skip;
const small = { training: { epochs: 6 } } as const;

maybe('trust drills, short', () => {
  it(
    'noise: no wrong promotion, every cycle decides or waits, none fails',
    async () => {
      const r = await noiseDrill({
        breeds: ['beagle', 'pug', 'samoyed', 'boxer', 'chihuahua'],
        cycles: 3,
        firstBatch: 150,
        batch: 70,
        heldBackShare: 0.25,
        seed: 'ci',
        overrides: small,
      });
      expect(r.failedCycles).toBe(0);
      expect(r.wrongPromotions).toBe(0);
      expect(r.rows.every((x) => x.evalN !== null)).toBe(true);
    },
    20 * 60_000,
  );

  it(
    'new breed: it enters a version with its evaluation photos and the served model learns it without losing the old breeds',
    async () => {
      const r = await newBreedDrill({
        breeds: ['beagle', 'pug', 'samoyed', 'boxer', 'pembroke'],
        withheld: 'pembroke',
        arrival: 20,
        firstBatch: 150,
        batch: 40,
        after: 3,
        heldBackShare: 0.25,
        seed: 'ci',
        overrides: small,
      });
      expect(r.failedCycles).toBe(0);
      expect(r.rows.some((x) => /eval/.test(x.newInVersion) && !/ 0 eval/.test(x.newInVersion))).toBe(true);
      expect(r.cyclesToLearn).not.toBeNull();
      expect(r.oldChange!).toBeGreaterThanOrEqual(-0.05);
    },
    20 * 60_000,
  );

  it(
    'poison: hostile labels are written but none reaches training or evaluation',
    async () => {
      const r = await poisonDrill({
        breeds: ['beagle', 'pug', 'samoyed', 'boxer'],
        cycles: 3,
        firstBatch: 120,
        batch: 60,
        attacks: 24,
        heldBackShare: 0.25,
        seed: 'ci',
        overrides: small,
      });
      expect(r.failedCycles).toBe(0);
      expect(r.labelsWritten).toBeGreaterThan(0);
      expect(r.poisonedInTraining).toBe(0);
      expect(r.poisonedInEvaluation).toBe(0);
      expect(r.fromUsers).toBe(0);
    },
    20 * 60_000,
  );
});
