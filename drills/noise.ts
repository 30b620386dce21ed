import type { DeepPartial } from '../workloads/core/config/load';
import type { WorkloadConfig } from '../workloads/core/config/schema';
import {
  compareHeldBack,
  heldBackDecision,
  holdBack,
  ingestTrusted,
  interval,
  openWorld,
  pct,
  pts,
  runCycle,
  scoreHeldBack,
  sharedPhotos,
  shuffled,
  table,
  drillArgs,
  runDrillMain,
} from './harness';

/**
 * drill:noise: does the gate tell real improvements from evaluation noise?
 *
 * A quarter of every breed's photos is held back; the rest arrive through the trusted
 * image API in batches, one batch per cycle, and the loop runs its steps each cycle. Every
 * challenger, promoted or rejected, is then scored against the champion it was judged
 * against on the held-back photos, paired, with the same exact test:
 *   - a wrong promotion: the gate promoted, and the held-back photos say the challenger is
 *     significantly worse than its predecessor;
 *   - a wrong rejection: the gate kept the champion, and the held-back photos say the
 *     challenger was significantly better;
 *   - agreement: neither. The gate's stated error is its α (the chance of promoting a model
 *     that is not better), and each decision states its interval.
 */
export interface NoiseOptions {
  breeds?: string[];
  cycles: number;
  firstBatch: number;
  batch: number;
  heldBackShare: number;
  seed: string;
  overrides?: DeepPartial<WorkloadConfig>;
}

export interface NoiseRow {
  cycle: number;
  examples: number | null;
  evalN: number | null;
  decision: string;
  gate: string;
  heldBack: string;
  served: number | null;
  /**
   * Against the gate's own stated error:
   * wrong promotion: promoted, and the held-back photos show it significantly worse than its predecessor (the gate states α);
   * wrong rejection: kept the champion, and the held-back photos prove an improvement at least as large as the one the
   *   gate stated it would detect (its 95%-power detectable effect on the evaluation set);
   * agree: neither. A first model (nothing to replace): promoted, it agrees when its held-back top-1 is above the floor
   *   beyond doubt (lower bound); rejected, when the same rule on the held-back photos rejects it too.
   */
  verdict: 'agree' | 'wrong promotion' | 'wrong rejection' | 'waiting' | '—';
  seconds: number;
}

export interface NoiseResult {
  rows: NoiseRow[];
  decisions: number;
  agreements: number;
  wrongPromotions: number;
  wrongRejections: number;
  /** Decisions the same rule, applied to the held-back photos instead of the evaluation set, makes the same way. */
  sameAsHeldBackRule: number;
  /** The smallest held-back effect of any promotion over a champion (its predecessor), in accuracy. */
  worstPromotion: number | null;
  failedCycles: number;
  alpha: number;
  heldBack: number;
}

export async function noiseDrill(o: NoiseOptions, say: (line: string) => void = () => undefined): Promise<NoiseResult> {
  const { heldBack, pool } = holdBack(sharedPhotos(o.breeds), o.heldBackShare, o.seed);
  const stream = shuffled(pool, `stream:${o.seed}`);
  // The trigger fires on each batch (near-duplicates among the shared photos make a batch count a little less).
  const world = await openWorld({
    heldBack,
    overrides: { trigger: { minNewLabelled: Math.floor(0.9 * Math.min(o.firstBatch, o.batch)) }, ...o.overrides },
  });
  const alpha = world.config.gate.alpha;
  const rows: NoiseRow[] = [];
  let next = 0;
  let served: number | null = null;
  let failedCycles = 0;
  let strict = 0;
  let worstPromotion: number | null = null;
  try {
    for (let cycle = 1; cycle <= o.cycles; cycle++) {
      const size = cycle === 1 ? o.firstBatch : o.batch;
      await ingestTrusted(world, stream.slice(next, next + size));
      next += size;
      let c;
      try {
        c = await runCycle(world, cycle);
      } catch (err) {
        failedCycles++;
        rows.push({
          cycle,
          examples: null,
          evalN: null,
          decision: `FAILED: ${(err as Error).message.slice(0, 80)}`,
          gate: '—',
          heldBack: '—',
          served,
          verdict: '—',
          seconds: 0,
        });
        say(`cycle ${cycle}: FAILED ${(err as Error).stack}`);
        continue;
      }
      let heldBackCell = '—';
      let verdict: NoiseRow['verdict'] = c.outcome === 'waiting for data' || c.outcome === 'not fired' ? 'waiting' : '—';
      if (c.modelVersion) {
        const challenger = await scoreHeldBack(world, c.modelVersion);
        const hbGate = await heldBackDecision(world, c.modelVersion, c.championVersion);
        if (c.championVersion) {
          const champion = await scoreHeldBack(world, c.championVersion);
          const hb = compareHeldBack(world, challenger, champion, alpha);
          heldBackCell = `${pct(champion.accuracy)} → ${pct(challenger.accuracy)}: ${interval(hb)} (${hbGate.decision})`;
          if (c.outcome === 'promote') {
            verdict = hb.pWorse < alpha ? 'wrong promotion' : 'agree';
            worstPromotion = worstPromotion === null ? hb.effect : Math.min(worstPromotion, hb.effect);
          } else {
            // Missed: the held-back photos prove an improvement at least as large as the one the gate said it would detect.
            const detectable = c.gate?.overall?.detectable ?? null;
            verdict = hbGate.decision === 'promote' && detectable !== null && hb.effect >= detectable ? 'wrong rejection' : 'agree';
          }
          strict += hbGate.decision === c.outcome ? 1 : 0;
        } else {
          heldBackCell = `first model: ${pct(challenger.accuracy)} (${hbGate.decision})`;
          // With nothing to replace, a promotion claims one thing: top-1 above the floor (its lower bound). A rejection
          // claims what failed; the held-back photos agree when the same rule on them rejects too.
          if (c.outcome === 'promote') verdict = hbGate.statistics.top1Low >= world.config.gate.floorTop1 ? 'agree' : 'wrong promotion';
          else verdict = hbGate.decision === 'reject' ? 'agree' : 'wrong rejection';
          strict += hbGate.decision === c.outcome ? 1 : 0;
        }
        if (c.outcome === 'promote') served = challenger.accuracy;
      }
      const row: NoiseRow = {
        cycle,
        examples: c.examples,
        evalN: c.evalN,
        decision: c.outcome,
        gate: c.gate?.overall
          ? interval(c.gate.overall)
          : c.gate
            ? `first model, top-1 ${pct(c.gate.challengerTop1)}`
            : c.reason.slice(0, 60),
        heldBack: heldBackCell,
        served,
        verdict,
        seconds: c.seconds,
      };
      rows.push(row);
      say(
        `cycle ${cycle}: ${row.decision} | gate ${row.gate} | held-back ${row.heldBack} | ${row.verdict} (${row.seconds.toFixed(0)} s) | ${c.reason}`,
      );
    }
  } finally {
    await world.close();
  }
  const decided = rows.filter((r) => r.verdict !== 'waiting' && r.verdict !== '—');
  return {
    rows,
    decisions: decided.length,
    agreements: decided.filter((r) => r.verdict === 'agree').length,
    wrongPromotions: decided.filter((r) => r.verdict === 'wrong promotion').length,
    wrongRejections: decided.filter((r) => r.verdict === 'wrong rejection').length,
    sameAsHeldBackRule: strict,
    worstPromotion,
    failedCycles,
    alpha,
    heldBack: heldBack.length,
  };
}

export function formatNoise(r: NoiseResult): string {
  const body = table(
    [
      'cycle',
      'examples',
      'eval n',
      'decision',
      'gate: effect [CI] p',
      'held-back: champion → challenger, effect [CI] p',
      'served (held-back)',
      'verdict',
      's',
    ],
    r.rows.map((x) => [
      x.cycle,
      x.examples ?? '—',
      x.evalN ?? '—',
      x.decision,
      x.gate,
      x.heldBack,
      pct(x.served),
      x.verdict,
      x.seconds.toFixed(0),
    ]),
  );
  const agreement = r.decisions ? r.agreements / r.decisions : 1;
  return [
    body,
    `decisions ${r.decisions}: agree with the held-back photos (${r.heldBack}) in ${r.agreements} (${pct(agreement)}); ` +
      `wrong promotions ${r.wrongPromotions}, wrong rejections ${r.wrongRejections} (against the gate's stated α and detectable effect); ` +
      `the same rule on the held-back photos decides the same in ${r.sameAsHeldBackRule} of ${r.decisions}; smallest held-back gain of a promotion over its predecessor ${pts(r.worstPromotion)} pt; ` +
      `gate α = ${r.alpha} (effects in points, ${Math.round((1 - 2 * r.alpha) * 100)}% intervals); cycles failed: ${r.failedCycles}`,
  ].join('\n');
}

if (require.main === module) {
  const { common, values } = drillArgs({ firstBatch: 300, batch: 185, seed: 'noise-1' }, { cycles: { type: 'string', default: '9' } });
  runDrillMain('drill:noise', (say) => noiseDrill({ ...common, cycles: Number(values.cycles) }, say), formatNoise);
}
