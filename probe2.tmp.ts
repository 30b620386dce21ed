import { readdirSync, readFileSync } from 'node:fs';
import { baseSpec } from './workloads/core/model/backbones';
import { FeatureExtractor } from './workloads/training/features/extractor';
import { IDENTITY, augmentationFor } from './workloads/training/features/augment';
(async () => {
  const dir = '/work/shared/datasets/dogs/beagle';
  const files = readdirSync(dir).slice(0, 64).map((f) => readFileSync(`${dir}/${f}`));
  for (const [name, spec] of [['v2_100', baseSpec('mobilenet_v2_100')], ['v2_035', baseSpec('mobilenet_v2_035')]] as const) {
    for (const bs of [4, 16]) {
      const fx = await FeatureExtractor.start(spec, { workers: 2, batchSize: bs });
      await fx.extract(files.slice(0, 8).map((jpeg) => ({ jpeg, aug: IDENTITY })));
      let t = Date.now();
      await fx.extract(files.map((jpeg) => ({ jpeg, aug: IDENTITY })));
      const a = Date.now() - t;
      t = Date.now();
      await fx.extract(files.map((jpeg, i) => ({ jpeg, aug: augmentationFor({ rotationDegrees: 10, horizontalFlip: true, brightness: 0.15, variants: 2 }, 1, String(i), 1) })));
      console.log(name, 'batch', bs, 'identity ms/img', (a / 64).toFixed(1), 'augmented ms/img', ((Date.now() - t) / 64).toFixed(1));
      await fx.close();
    }
  }
})();
