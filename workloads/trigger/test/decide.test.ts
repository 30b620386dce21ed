import { decide, TriggerInputs, TriggerThresholds } from '../decide';

const t: TriggerThresholds = {
  minNewLabelled: 100,
  driftMargin: 0.1,
  driftMinPredictions: 50,
  driftWindowMinutes: 60,
  maxIntervalHours: 24,
};
const base: TriggerInputs = {
  now: '2026-11-23T12:00:00.000Z',
  lastDataset: { version: 'v1', createdAt: '2026-11-23T10:00:00.000Z' },
  hoursSinceLast: 2,
  newLabelled: 10,
  champion: 'm1',
  baselineAccuracy: 0.9,
  recentPredictions: 80,
  recentAccuracy: 0.88,
  force: false,
};

describe('decide', () => {
  it('does not fire when no condition holds, and says why for each', () => {
    const d = decide(base, t);
    expect(d).toMatchObject({ fire: false, condition: 'none' });
    expect(d.reason).toContain('10 new labelled examples < 100');
    expect(d.reason).toContain('within the 10.0% margin');
    expect(d.reason).toContain('2.0 h since the last dataset < 24.0 h');
  });

  it('fires on new labelled data at the threshold', () => {
    expect(decide({ ...base, newLabelled: 99 }, t).fire).toBe(false);
    expect(decide({ ...base, newLabelled: 100 }, t)).toMatchObject({ fire: true, condition: 'new_data' });
  });

  it('fires on drift only below baseline minus margin and with enough predictions', () => {
    expect(decide({ ...base, recentAccuracy: 0.81 }, t).fire).toBe(false);
    const d = decide({ ...base, recentAccuracy: 0.79 }, t);
    expect(d).toMatchObject({ fire: true, condition: 'drift' });
    expect(d.reason).toContain('79.0% over 80 recent predictions vs baseline 90.0%');
    expect(decide({ ...base, recentAccuracy: 0.5, recentPredictions: 49 }, t)).toMatchObject({ fire: false });
    expect(decide({ ...base, recentAccuracy: 0.5, baselineAccuracy: null }, t).reason).toContain(
      'no baseline accuracy recorded for champion m1',
    );
    expect(decide({ ...base, recentAccuracy: 0.5, champion: null, baselineAccuracy: null }, t).reason).toContain('no champion');
  });

  it('fires on the maximum interval', () => {
    expect(decide({ ...base, hoursSinceLast: 23.9 }, t).fire).toBe(false);
    expect(decide({ ...base, hoursSinceLast: 24 }, t)).toMatchObject({ fire: true, condition: 'max_interval' });
  });

  it('does not fire on drift or age alone when there is no new labelled data to retrain on', () => {
    const d = decide({ ...base, newLabelled: 0, recentAccuracy: 0.5, hoursSinceLast: 30 }, t);
    expect(d).toMatchObject({ fire: false, condition: 'none' });
    expect(d.reason).toMatch(/^waiting for data: drift: .*; max_interval: .*; but no new trusted photos since v1 to retrain on$/);
    expect(decide({ ...base, newLabelled: 1, hoursSinceLast: 30 }, t)).toMatchObject({ fire: true, condition: 'max_interval' });
  });

  it('names every condition that holds, the first one as the condition', () => {
    const d = decide({ ...base, newLabelled: 500, recentAccuracy: 0.5, hoursSinceLast: 30 }, t);
    expect(d.condition).toBe('new_data');
    expect(d.reason).toMatch(/^new_data: .*; drift: .*; max_interval: /);
  });

  it('first run: fires once enough labelled data exists', () => {
    const first = {
      ...base,
      lastDataset: null,
      hoursSinceLast: null,
      champion: null,
      baselineAccuracy: null,
      recentAccuracy: null,
      recentPredictions: 0,
    };
    expect(decide({ ...first, newLabelled: 99 }, t)).toMatchObject({ fire: false, condition: 'none' });
    expect(decide({ ...first, newLabelled: 99 }, t).reason).toContain('waiting for data');
    expect(decide({ ...first, newLabelled: 100 }, t)).toMatchObject({ fire: true, condition: 'first_run' });
    expect(decide({ ...first, newLabelled: 3, force: true }, t)).toMatchObject({ fire: true, condition: 'forced' });
  });

  it('force fires and keeps the underlying reasons', () => {
    const d = decide({ ...base, force: true }, t);
    expect(d).toMatchObject({ fire: true, condition: 'forced' });
    expect(d.reason).toContain('10 new labelled examples < 100');
  });
});
