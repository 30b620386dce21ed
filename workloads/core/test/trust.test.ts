import { trustSchema } from '../config/schema';
import type { RawLabel } from '../dataset/raw-label';
import { type HashedLabel, type ReviewDecision, resolveTrust, type StoredExample, type TrustPolicy } from '../dataset/trust';

const policy: TrustPolicy = trustSchema.parse({ agreementVoters: 3, championMinProbability: 0, nearDuplicateBits: 6 });
const known = new Set(['beagle', 'pug', 'samoyed']);

let n = 0;
/** A label object; `photo` picks the picture (its phash), `variant` flips a few bits (a near-duplicate with other bytes). */
function label(photo: number, l: string, extra: Partial<RawLabel> & { variant?: number } = {}): HashedLabel {
  const { variant = 0, ...rest } = extra;
  const id = `id${++n}`;
  const base = BigInt(photo) * 0x9e3779b97f4a7c15n;
  const phash = ((base ^ BigInt(variant ? (1 << variant) - 1 : 0)) & 0xffffffffffffffffn).toString(16).padStart(16, '0');
  return {
    phash,
    label: {
      id,
      imageKey: `images/${id}.jpg`,
      label: l,
      source: 'upload',
      trust: 'untrusted',
      labelledAt: new Date(Date.UTC(2026, 10, 1, 0, 0, n)).toISOString(),
      sha256: `${photo.toString(16).padStart(8, '0')}${variant}`.padEnd(64, '0'),
      ...rest,
    },
  };
}
const api = (photo: number, l: string): HashedLabel => label(photo, l, { source: 'dogapi', trust: 'trusted' });
const resolve = (
  labels: HashedLabel[],
  opts: { stored?: StoredExample[]; reviews?: ReviewDecision[]; policy?: Partial<TrustPolicy> } = {},
) =>
  resolveTrust({
    labels,
    stored: opts.stored ?? [],
    reviews: new Map((opts.reviews ?? []).map((r) => [r.id, r])),
    knownLabels: known,
    policy: { ...policy, ...opts.policy },
  });

describe('resolveTrust', () => {
  it('trusts the image API by source and nobody else by default', () => {
    const [a, b] = resolve([api(1, 'beagle'), label(2, 'pug', { voter: 'u1' })]);
    expect(a).toMatchObject({ status: 'trusted', label: 'beagle', trustedBy: 'source' });
    expect(b).toMatchObject({ status: 'pending', label: null, trustedBy: null });
    expect(b.reason).toMatch(/untrusted \(votes: pug 1\); awaiting review or agreement/);
  });

  it('trusts k independent agreeing users, counting near-duplicates from one voter once', () => {
    const three = resolve([
      label(5, 'pug', { voter: 'u1' }),
      label(5, 'pug', { voter: 'u2', variant: 2 }),
      label(5, 'pug', { voter: 'u3', variant: 3 }),
    ]);
    expect(three).toHaveLength(1);
    expect(three[0]).toMatchObject({ status: 'trusted', label: 'pug', trustedBy: 'agreement' });
    // One hostile client appending bytes / tweaking pixels: many objects, one photo, one vote.
    const spam = resolve(Array.from({ length: 20 }, (_, i) => label(6, 'pug', { voter: 'attacker', variant: i % 5 })));
    expect(spam).toHaveLength(1);
    expect(spam[0]).toMatchObject({ status: 'pending', votes: [{ label: 'pug', voters: ['attacker'] }] });
  });

  it('needs the agreeing users to be a majority of the photo’s voters', () => {
    const split = resolve(
      ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map((v, i) => label(7, i < 3 ? 'pug' : 'beagle', { voter: v, variant: i % 3 })),
    );
    expect(split[0].status).toBe('pending');
    const majority = resolve(['u1', 'u2', 'u3', 'u4'].map((v, i) => label(7, i < 3 ? 'pug' : 'beagle', { voter: v })));
    expect(majority[0]).toMatchObject({ status: 'trusted', label: 'pug' });
  });

  it('lets only an operator add a breed outside the label set', () => {
    const proposal = ['u1', 'u2', 'u3', 'u4'].map((v) => label(8, 'basenji', { voter: v }));
    expect(resolve(proposal)[0].reason).toMatch(/basenji is not a known breed: only an operator's review can add it/);
    const approved = resolve(proposal, {
      reviews: [{ id: proposal[1].label.id, decision: 'approve', label: 'basenji', reviewer: 'op', at: '2026-11-02T00:00:00Z' }],
    });
    expect(approved[0]).toMatchObject({ status: 'trusted', label: 'basenji', trustedBy: 'review', representative: proposal[0] });
  });

  it("lets an operator's latest review decide, over any source", () => {
    const photo = [api(9, 'beagle'), label(9, 'pug', { voter: 'u1', variant: 1 })];
    const reviews: ReviewDecision[] = [
      { id: photo[1].label.id, decision: 'approve', label: 'pug', reviewer: 'op', at: '2026-11-02T00:00:00Z' },
      { id: photo[0].label.id, decision: 'reject', label: null, reviewer: 'op', at: '2026-11-03T00:00:00Z', note: 'not a dog' },
    ];
    expect(resolve(photo, { reviews })[0]).toMatchObject({ status: 'rejected', label: null });
  });

  it('gives near-duplicates one fate: a user’s near-copy of an API photo follows the API’s label', () => {
    const [c] = resolve([label(10, 'pug', { voter: 'u1', variant: 2 }), api(10, 'beagle')]);
    expect(c).toMatchObject({ status: 'trusted', label: 'beagle', trustedBy: 'source' });
    expect(c.representative.label.source).toBe('dogapi');
  });

  it('does not decide between trusted sources that disagree', () => {
    expect(resolve([api(11, 'beagle'), api(11, 'pug')])[0]).toMatchObject({ status: 'conflict' });
  });

  it('treats a near-duplicate of a stored example as that example', () => {
    const stored: StoredExample = { sha256: 'f'.repeat(64), phash: api(12, 'x').phash, label: 'beagle', split: 'test' };
    const [c] = resolve(
      [label(12, 'pug', { voter: 'u1', variant: 3 }), label(12, 'pug', { voter: 'u2', variant: 1 }), label(12, 'pug', { voter: 'u3' })],
      { stored: [stored] },
    );
    expect(c).toMatchObject({ status: 'stored', label: 'beagle', stored });
  });

  it('champion agreement trusts corrections only, above the threshold, when switched on', () => {
    const correction = label(13, 'pug', { voter: 'u1', correct: false, modelProbability: 0.4 });
    const confirmation = label(14, 'pug', { voter: 'u1', correct: true, modelProbability: 0.99 });
    const weak = label(15, 'pug', { voter: 'u1', correct: false, modelProbability: 0.1 });
    expect(resolve([correction]).map((c) => c.status)).toEqual(['pending']);
    const on = resolve([correction, confirmation, weak], { policy: { championMinProbability: 0.3 } });
    expect(on.map((c) => [c.status, c.trustedBy])).toEqual([
      ['trusted', 'champion'],
      ['pending', null],
      ['pending', null],
    ]);
  });
});
