import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import * as time from '@pulumiverse/time';
import type { AlertPolicySpec, LogMetricSpec } from '../workloads/monitoring/cloud-alerts';
import { alsoDependOn, childOptions } from './base';

export interface AlertsArgs {
  project: pulumi.Input<string>;
  /** Shown in the notification channels' names. */
  displayName: string;
  notificationEmails: string[];
  /** Log-based metrics and policies from `cloudMonitoringAlerts()` (workloads/monitoring/cloud-alerts.ts). */
  metrics: LogMetricSpec[];
  policies: AlertPolicySpec[];
  /**
   * Seconds to wait after creating the log-based metrics before creating the policies that
   * read them (default 600: Monitoring answers 404 "cannot find metric" for up to 10 minutes).
   */
  metricPropagationSeconds?: number;
}

/**
 * Cloud Monitoring: e-mail notification channels, the log-based metrics and the alert
 * policies rendered from the one alert definition the local dashboard banner also uses.
 */
export class Alerts extends pulumi.ComponentResource {
  readonly channels: gcp.monitoring.NotificationChannel[];
  readonly metrics: Record<string, gcp.logging.Metric> = {};
  /** Runs once, when created (and again when the set of metrics changes); every policy waits for it. */
  readonly metricsVisible: time.Sleep;
  readonly policies: Record<string, gcp.monitoring.AlertPolicy> = {};

  constructor(name: string, args: AlertsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('creature-vision:monitoring:Alerts', name, {}, opts);
    const child = childOptions(this, opts);
    this.channels = args.notificationEmails.map(
      (email, i) =>
        new gcp.monitoring.NotificationChannel(
          `${name}-email-${i}`,
          { project: args.project, type: 'email', displayName: `${args.displayName} alerts: ${email}`, labels: { email_address: email } },
          child,
        ),
    );
    for (const m of args.metrics) {
      this.metrics[m.name] = new gcp.logging.Metric(`${name}-${m.name}`, { project: args.project, ...m }, child);
    }
    this.metricsVisible = new time.Sleep(
      `${name}-metrics-visible`,
      {
        createDuration: `${args.metricPropagationSeconds ?? 600}s`,
        triggers: { metrics: Object.keys(this.metrics).sort().join(',') },
      },
      alsoDependOn(child, ...Object.values(this.metrics)),
    );
    for (const p of args.policies) {
      const missing = p.metricNames.filter((n) => !this.metrics[n]);
      if (missing.length) throw new Error(`alert policy ${p.id} reads log metric(s) ${missing.join(', ')} that are not defined`);
      this.policies[p.id] = new gcp.monitoring.AlertPolicy(
        `${name}-${p.id}`,
        { project: args.project, ...p.args, notificationChannels: this.channels.map((c) => c.name) },
        // A policy over a log-based metric fails to create until Monitoring sees the metric.
        alsoDependOn(child, this.metricsVisible, ...p.metricNames.map((n) => this.metrics[n])),
      );
    }
    this.registerOutputs({ policies: Object.keys(this.policies) });
  }
}
