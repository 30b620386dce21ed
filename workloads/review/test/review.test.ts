import { readFileSync } from 'node:fs';
import { loadConfig } from '../../core/config/load';
import { readManifest } from '../../core/dataset/read-dataset';
import { runPreprocessing } from '../../preprocessing/run';
import { dogPhotos, type Lake, putLabelled, tempLake, testOptions } from '../../preprocessing/test/fixtures';
import { recordReview, ReviewError, reviewQueue } from '../queue';

describe('operator review', () => {
  let lake: Lake;
  const config = loadConfig({ env: {}, overrides: { preprocessing: { minClassExamples: 1 } } });
  beforeEach(() => {
    lake = tempLake();
  });
  afterEach(() => lake.cleanup());

  it('lists users’ photos awaiting trust with the model’s guess and the votes; an approval puts the photo in the next version', async () => {
    const [pug, boxer] = dogPhotos(['pug', 'boxer'], 1);
    await putLabelled(lake.raw, 'api-1', readFileSync(pug.file), 'pug');
    await putLabelled(lake.raw, 'up-1', readFileSync(boxer.file), 'boxer', {
      source: 'upload',
      trust: 'untrusted',
      voter: 'u1',
      predictedLabel: 'pug',
      correct: false,
    });
    const queue = await reviewQueue(lake, config);
    expect(queue).toEqual([
      expect.objectContaining({ id: 'up-1', status: 'pending', model: { predicted: 'pug' }, votes: [{ label: 'boxer', voters: ['u1'] }] }),
    ]);
    await expect(recordReview(lake.raw, { id: 'nope', decision: 'approve', reviewer: 'op' })).rejects.toThrow(ReviewError);
    await recordReview(lake.raw, { id: 'up-1', decision: 'approve', reviewer: 'op' });
    expect(await reviewQueue(lake, config)).toEqual([]);
    const s = await runPreprocessing(lake, { ...testOptions(), version: 'v1' });
    expect(s.newExamples).toBe(2);
    const m = await readManifest(lake.datasets, 'v1');
    expect(m.sources.find((x) => x.label === 'boxer')).toMatchObject({ source: 'upload', trustedBy: 'review' });
  });

  it('is the only way a breed outside the label set comes in, and a rejection keeps a photo out for good', async () => {
    const [a, b] = dogPhotos(['beagle'], 2);
    await putLabelled(lake.raw, 'up-new', readFileSync(a.file), 'basenji', { source: 'upload', trust: 'untrusted', voter: 'u1' });
    await putLabelled(lake.raw, 'up-bad', readFileSync(b.file), 'pug', { source: 'upload', trust: 'untrusted', voter: 'u2' });
    expect((await reviewQueue(lake, config)).map((i) => i.reason)).toEqual([
      expect.stringMatching(/basenji is not a known breed: only an operator's review can add it/),
      expect.stringMatching(/awaiting review or agreement/),
    ]);
    await recordReview(lake.raw, { id: 'up-new', decision: 'approve', reviewer: 'op', label: 'basenji' });
    await recordReview(lake.raw, { id: 'up-bad', decision: 'reject', reviewer: 'op', note: 'a beagle, not a pug' });
    const s = await runPreprocessing(lake, { ...testOptions(), version: 'v1' });
    expect(s.perClass).toEqual({ basenji: 1 });
    expect((await reviewQueue(lake, config, { all: true })).map((i) => [i.id, i.status])).toEqual([['up-bad', 'rejected']]);
  });
});
