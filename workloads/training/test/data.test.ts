import { datasetKeys } from '../../core/layout';
import type { DatasetManifest } from '../../core/dataset/manifest';
import { readJson, writeJson } from '../../core/storage/object-store';
import { loadDataset, weightedTrainingImages } from '../data';
import { photos, splitPhotos, tempRoot, type TempRoot, writeDatasetVersion } from './fixtures';

describe('training data', () => {
  let root: TempRoot;
  beforeEach(() => {
    root = tempRoot();
  });
  afterEach(() => root.cleanup());

  it('draws each training example as often as its sampling weight says', async () => {
    const all = photos(['beagle', 'pug'], 6);
    const splits = splitPhotos(all);
    await writeDatasetVersion(root.lake, 'v1', ['beagle', 'pug'], splits);
    const hard = splits.train[0].sha256;
    const manifest = (await readJson<DatasetManifest>(root.lake.datasets, datasetKeys.manifest('v1')))!;
    await writeJson(root.lake.datasets, 'versions/v1/sampling.json', { policy: 'test', weights: { [hard]: 3 } });
    await writeJson(root.lake.datasets, datasetKeys.manifest('v1'), { ...manifest, sampling: 'versions/v1/sampling.json' });
    const data = await loadDataset(root.lake.datasets, 'v1');
    const drawn = await weightedTrainingImages(root.lake.datasets, data);
    expect(drawn).toHaveLength(splits.train.length + 2);
    expect(drawn.filter((i) => i.sourceId === hard)).toHaveLength(3);
  });

  it('refuses a version whose evaluation photos are also training photos', async () => {
    const all = photos(['beagle', 'pug'], 6);
    const splits = splitPhotos(all);
    await writeDatasetVersion(root.lake, 'v1', ['beagle', 'pug'], { ...splits, train: [...splits.train, splits.test[0]] });
    await expect(loadDataset(root.lake.datasets, 'v1')).rejects.toThrow(/is in both the test \(evaluation\) and the train split/);
  });
});
