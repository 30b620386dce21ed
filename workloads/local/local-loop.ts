import { Cron } from 'croner';
import { createWriteStream, WriteStream } from 'node:fs';
import * as path from 'node:path';
import type { WorkloadConfig } from '../core/config/schema';
import { dashboardPlugin } from '../monitoring/dashboard';
import { RequestLog } from '../monitoring/request-log';
import type { RunEvent, RunResult } from '../../pipeline-specs/runner/types';
import { LocalSubmitter } from '../trigger/local-submitter';
import { openSubmitter } from '../trigger/open-submitter';
import { TriggerOutcome, TriggerService } from '../trigger/service';
import { HOUSEKEEPING_EVERY_MS, houseKeep } from './housekeeping';
import { Ingestor } from './ingest';
import { LocalServices } from './local-services';

/**
 * The whole continual-learning loop on one machine: local stand-ins for the cloud
 * services, ingestion on the ingest cron (Cloud Scheduler → GET /predict in the cloud),
 * the retraining trigger on its cron (Cloud Scheduler → trigger service), and the local
 * pipeline runner executing the same compiled spec Vertex AI runs.
 */
export interface LocalLoopOptions {
  config: WorkloadConfig;
  hubPort: number;
  /** Called for every notable event (pipeline steps, decisions), one line each. */
  say: (line: string) => void;
}

export class LocalLoop {
  readonly services: LocalServices;
  ingestor!: Ingestor;
  trigger!: TriggerService;
  private submitter!: LocalSubmitter;
  private triggerJob: Cron | undefined;
  private housekeeping: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private pipelineLog: WriteStream | undefined;
  /** What the running pipeline is doing, for the status line. */
  pipelineState: string | null = null;
  readonly finishedRuns: RunResult[] = [];
  /** The inference service's request log lines: the dashboard's local error-rate source. */
  private readonly requestLog = new RequestLog();

  constructor(private readonly options: LocalLoopOptions) {
    this.services = new LocalServices({
      config: options.config,
      hubPort: options.hubPort,
      mountDashboard: async (app, s) => {
        await app.register(dashboardPlugin, {
          prefix: '/dashboard',
          warehouse: s.warehouse,
          models: s.lake.models,
          alerts: s.config.monitoring.alerts,
          refreshSeconds: s.config.monitoring.refreshSeconds,
          requestLog: this.requestLog,
        });
      },
    });
  }

  get config(): WorkloadConfig {
    return this.options.config;
  }

  async start(): Promise<void> {
    await this.services.start();
    await this.houseKeep();
    if (this.services.inference?.child.stdout) this.requestLog.follow(this.services.inference.child.stdout);
    this.pipelineLog = createWriteStream(path.join(this.services.logDir, 'pipeline.log'), { flags: 'a' });
    this.submitter = openSubmitter(this.config, this.services.lake, {
      runOptions: {
        env: this.services.workloadEnv(),
        warehouse: this.services.warehouse,
        signal: this.abort.signal,
        onEvent: (e) => this.onPipelineEvent(e),
      },
      onFinished: (r) => this.finishedRuns.push(r),
    }) as LocalSubmitter;
    this.trigger = new TriggerService({
      lake: this.services.lake,
      warehouse: this.services.warehouse,
      thresholds: this.config.trigger,
      intake: this.config,
      submitter: this.submitter,
    });
    this.ingestor = new Ingestor(`${this.services.inferenceUrl}/predict`, () => this.services.internalHeaders());
  }

  /** Expires unlabelled uploads and removes what crashed processes left (./housekeeping.ts). */
  private async houseKeep(): Promise<void> {
    try {
      const r = await houseKeep(this.services.lake, this.config.inference.unlabelledUploadDays);
      if (r.expiredUploads + r.abandonedStaging + r.leftovers > 0) {
        this.options.say(
          `housekeeping: ${r.expiredUploads} expired unlabelled uploads, ${r.abandonedStaging} abandoned staging parts, ${r.leftovers} temp/lock files removed`,
        );
      }
    } catch (err) {
      this.options.say(`housekeeping failed: ${(err as Error).message}`);
    }
  }

  /** Runs ingestion and the trigger on their cron expressions until {@link stop}. */
  startSchedules(): void {
    this.housekeeping = setInterval(() => void this.houseKeep(), HOUSEKEEPING_EVERY_MS);
    this.housekeeping.unref();
    this.ingestor.start(this.config.ingest.cron, this.config.ingest.perTick);
    this.triggerJob = new Cron(this.config.trigger.cron, { protect: true, catch: true }, async () => {
      const outcome = await this.trigger.check();
      this.reportDecision(outcome);
    });
  }

  reportDecision(outcome: TriggerOutcome): void {
    const d = outcome.decision;
    if (d.fire)
      this.options.say(
        `retraining: ${d.reason} → run ${outcome.runId ?? '(not started)'}${outcome.submitError ? ` failed to start: ${outcome.submitError}` : ''}`,
      );
  }

  /** The run in progress, if any. */
  get currentRun(): Promise<RunResult> | undefined {
    return this.submitter?.current;
  }

  private onPipelineEvent(e: RunEvent): void {
    switch (e.type) {
      case 'step-start':
        this.pipelineState = `${e.task}…`;
        this.pipelineLog?.write(`[${e.runId}] ▶ ${e.task}: ${e.command.join(' ')}\n`);
        break;
      case 'log':
        this.pipelineLog?.write(`[${e.runId}] ${e.task} | ${e.line}\n`);
        break;
      case 'step-end': {
        const s = e.step;
        this.pipelineLog?.write(`[${e.runId}] ■ ${s.task} ${s.status} in ${s.durationS.toFixed(1)} s\n`);
        if (s.status === 'failed') this.options.say(`pipeline ${e.runId}: step ${s.task} failed: ${s.error ?? ''}`);
        else if (s.status === 'succeeded') {
          const outs = Object.entries(s.outputs)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(' ');
          this.options.say(`pipeline ${e.runId}: ${s.task} done in ${s.durationS.toFixed(1)} s ${outs}`);
        }
        break;
      }
      case 'run-end':
        this.pipelineState = null;
        this.options.say(`pipeline ${e.runId} ${e.result.status} in ${e.result.durationS.toFixed(1)} s`);
        break;
      default:
        break;
    }
  }

  /** Stops schedules, cancels a running pipeline (its steps get SIGTERM), then the services. */
  async stop(): Promise<void> {
    clearInterval(this.housekeeping);
    this.triggerJob?.stop();
    await this.ingestor?.stop();
    if (this.submitter?.current) {
      this.abort.abort();
      await this.submitter.current;
    }
    await this.services.stop();
    this.pipelineLog?.end();
  }
}
