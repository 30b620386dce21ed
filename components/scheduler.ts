import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { childOptions, resourceId } from './base';

export interface ScheduledCall {
  /** Job id suffix, e.g. `ingest`. */
  name: string;
  description: string;
  /** Standard 5-field cron (minute hour day-of-month month day-of-week). */
  cron: string;
  method: 'GET' | 'POST';
  /** Full URL to call. */
  uri: pulumi.Input<string>;
  /** OIDC audience: the Cloud Run service URL. */
  audience: pulumi.Input<string>;
  /** JSON body for POST. */
  body?: unknown;
  /** Request deadline in seconds (Cloud Scheduler allows 15 s to 30 min for HTTP targets). */
  deadlineSeconds?: number;
}

export interface ScheduledCallsArgs {
  project: pulumi.Input<string>;
  region: pulumi.Input<string>;
  prefix: string;
  timeZone: string;
  /** Create the jobs paused (e.g. a stack that should not ingest yet). */
  paused?: boolean;
  /** The account whose OIDC token authenticates every call (it holds `roles/run.invoker`). */
  serviceAccountEmail: pulumi.Input<string>;
  calls: ScheduledCall[];
}

const CRON_FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$|^[A-Za-z]{3}(-[A-Za-z]{3})?(,[A-Za-z]{3}(-[A-Za-z]{3})?)*$/;

/**
 * Checks a Cloud Scheduler schedule: unix-cron with exactly 5 fields. (Locally croner also
 * accepts a leading seconds field; Cloud Scheduler does not.) Returns a problem or undefined.
 */
export function cronProblem(cron: string): string | undefined {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5) {
    return `must be a 5-field cron (minute hour day-of-month month day-of-week) for Cloud Scheduler, got ${fields.length} field(s)`;
  }
  const bad = fields.find((f) => !CRON_FIELD.test(f));
  return bad === undefined ? undefined : `cron field ${JSON.stringify(bad)} is not valid (numbers, ranges, lists, steps or *)`;
}

/**
 * Cloud Scheduler HTTP jobs calling Cloud Run with an OIDC identity token of one
 * service account, audience = the service URL (what Cloud Run verifies).
 */
export class ScheduledCalls extends pulumi.ComponentResource {
  readonly jobs: Record<string, gcp.cloudscheduler.Job>;

  constructor(name: string, args: ScheduledCallsArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validate before registering anything: a component that throws after super() leaves a dangling registration.
    for (const call of args.calls) {
      const problem = cronProblem(call.cron);
      if (problem) throw new Error(`scheduled call ${call.name}: schedule ${JSON.stringify(call.cron)} ${problem}`);
    }
    super('creature-vision:scheduler:ScheduledCalls', name, {}, opts);
    const child = childOptions(this, opts);
    this.jobs = {};
    for (const call of args.calls) {
      this.jobs[call.name] = new gcp.cloudscheduler.Job(
        `${name}-${call.name}`,
        {
          project: args.project,
          region: args.region,
          name: resourceId(500, args.prefix, call.name),
          description: call.description,
          schedule: call.cron.trim(),
          timeZone: args.timeZone,
          paused: args.paused ?? false,
          attemptDeadline: `${call.deadlineSeconds ?? 180}s`,
          retryConfig: { retryCount: 1, minBackoffDuration: '10s', maxBackoffDuration: '60s' },
          httpTarget: {
            uri: call.uri,
            httpMethod: call.method,
            headers: call.body === undefined ? undefined : { 'Content-Type': 'application/json' },
            body: call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body)).toString('base64'),
            oidcToken: { serviceAccountEmail: args.serviceAccountEmail, audience: call.audience },
          },
        },
        child,
      );
    }
    this.registerOutputs({ jobs: Object.keys(this.jobs) });
  }
}
