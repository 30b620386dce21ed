import { baseSpec, loadLayersBackbone } from '../../core/model/backbones';
import { selectBackend, tf } from '../../core/tf/backend';
import { buildHead, LOGITS_LAYER, resolveCut, trunkSpecFor, warmStart } from '../head';
import { installDepthwiseGradient } from '../wasm-depthwise-gradient';

/** Heads on the real MobileNetV2 backbone: cutting, copying the top, warm starts with a grown label set. */
beforeAll(async () => {
  await selectBackend(() => undefined);
});

describe('head with the fine-tunable top of the backbone', () => {
  it('cuts at a block boundary and reproduces the backbone exactly (1×1 convs as Dense, BatchNorm folded)', async () => {
    const spec = await trunkSpecFor(baseSpec('mobilenet_v2_035'), 4, true);
    expect(spec.cut).toBe('block_16_project_BN');
    expect(spec.outputShape).toEqual([7, 7, 112]);
    const parts = await buildHead(spec, 5, 1);
    const classes = parts.head.layers.map((l) => l.getClassName());
    expect(classes).not.toContain('Conv2D');
    expect(classes).not.toContain('BatchNormalization');
    expect(parts.featureDim).toBe(1280);

    const backbone = await loadLayersBackbone(spec);
    const trunk = tf.model({ inputs: backbone.inputs, outputs: backbone.getLayer(spec.cut!).output as tf.SymbolicTensor });
    const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 3);
    const expected = backbone.predict(x) as tf.Tensor;
    const got = parts.pooled.predict(trunk.predict(x) as tf.Tensor) as tf.Tensor;
    const diff = tf.max(tf.abs(expected.sub(got))).dataSync()[0];
    expect(diff).toBeLessThan(1e-4);
    backbone.dispose();
    parts.head.dispose();
  });

  it('never puts layers the backend cannot train into the head', async () => {
    const backbone = await loadLayersBackbone(baseSpec('mobilenet_v2_035'));
    const cut = resolveCut(backbone, 1000)!;
    const idx = backbone.layers.findIndex((l) => l.name === cut);
    const above = backbone.layers.slice(idx + 1);
    // The stem's 3×3 convolution has no WASM gradient: the deepest cut stays above it.
    if (tf.getBackend() === 'wasm') expect(above.map((l) => l.name)).not.toContain('Conv1');
    expect(resolveCut(backbone, 0)).toBeNull();
    backbone.dispose();
  });
});

describe('head with depthwise layers (composed WASM gradient installed)', () => {
  it('cuts below block 13 and reproduces the backbone exactly (depthwise BatchNorm folded); every top layer gets a gradient', async () => {
    installDepthwiseGradient();
    const spec = await trunkSpecFor(baseSpec('mobilenet_v2_035'), 39, true);
    expect(spec.cut).toBe('block_12_add');
    expect(spec.outputShape).toEqual([14, 14, 32]);
    const parts = await buildHead(spec, 5, 1);
    const classes = parts.head.layers.map((l) => l.getClassName());
    expect(classes).toContain('DepthwiseConv2D');
    expect(classes).not.toContain('BatchNormalization');

    const backbone = await loadLayersBackbone(spec);
    const trunk = tf.model({ inputs: backbone.inputs, outputs: backbone.getLayer(spec.cut!).output as tf.SymbolicTensor });
    const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 3);
    const expected = backbone.predict(x) as tf.Tensor;
    const activations = trunk.predict(x) as tf.Tensor;
    const got = parts.pooled.predict(activations) as tf.Tensor;
    expect(tf.max(tf.abs(expected.sub(got))).dataSync()[0]).toBeLessThan(1e-4);

    const vars = parts.head.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(parts.head.apply(activations) as tf.Tensor)) as tf.Scalar, vars);
    const depthwise = parts.head.layers.filter((l) => l.getClassName() === 'DepthwiseConv2D');
    expect(depthwise.map((l) => l.name)).toEqual(['block_13_depthwise', 'block_14_depthwise', 'block_15_depthwise', 'block_16_depthwise']);
    for (const l of depthwise) {
      const g = grads[(l.trainableWeights[0].read() as tf.Variable).name];
      expect(g).toBeDefined();
      expect(tf.max(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
    }
    backbone.dispose();
    parts.head.dispose();
  });
});

describe('warm start', () => {
  it('copies the champion head; a grown label set keeps every old class and adds fresh columns for new ones', async () => {
    const spec = { ...baseSpec('mobilenet_v2_035'), outputShape: [8] };
    const parent = await buildHead(spec, 2, 11); // labels [beagle, pug]
    // Make the parent's weights distinctive.
    const [k] = parent.logits.getWeights();
    parent.logits.setWeights([tf.randomNormal(k.shape, 0, 1, 'float32', 5), tf.tensor1d([0.3, -0.2])]);
    const child = await buildHead(spec, 3, 12); // labels [pug, husky, beagle]: reordered and grown
    const fresh = child.logits.getWeights()[0].arraySync() as number[][];
    const report = warmStart(child, ['pug', 'husky', 'beagle'], parent.head, ['beagle', 'pug']);
    expect(report).toMatchObject({ keptClasses: 2, newClasses: ['husky'] });
    expect(report.copiedLayers).toContain(LOGITS_LAYER);

    const pk = parent.logits.getWeights()[0].arraySync() as number[][];
    const ck = child.logits.getWeights()[0].arraySync() as number[][];
    const cb = Array.from(child.logits.getWeights()[1].dataSync());
    for (let r = 0; r < 8; r++) {
      expect(ck[r][0]).toBe(pk[r][1]); // pug
      expect(ck[r][2]).toBe(pk[r][0]); // beagle
      expect(ck[r][1]).toBe(fresh[r][1]); // husky: untouched fresh initialisation
    }
    expect(cb[0]).toBeCloseTo(-0.2);
    expect(cb[2]).toBeCloseTo(0.3);
    expect(cb[1]).toBe(0);

    // The old classes' logits are unchanged for any input: nothing forgotten at the start.
    const x = tf.randomNormal([4, 8], 0, 1, 'float32', 9);
    const before = (parent.logits.apply(x) as tf.Tensor).arraySync() as number[][];
    const after = (child.logits.apply(x) as tf.Tensor).arraySync() as number[][];
    before.forEach((row, i) => {
      expect(after[i][0]).toBeCloseTo(row[1], 5);
      expect(after[i][2]).toBeCloseTo(row[0], 5);
    });
  });
});
