import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { AlertPolicySpec, LogMetricSpec } from '../workloads/monitoring/cloud-alerts';
import { childOptions } from './base';

export interface AlertsArgs {
  project: pulumi.Input<string>;
  /** Shown in the notification channels' names. */
  displayName: string;
  notificationEmails: string[];
  /** Log-based metrics and policies from `cloudMonitoringAlerts()` (workloads/monitoring/cloud-alerts.ts). */
  metrics: LogMetricSpec[];
  policies: AlertPolicySpec[];
}

/**
 * Cloud Monitoring: e-mail notification channels, the log-based metrics and the alert
 * policies rendered from the one alert definition the local dashboard banner also uses.
 */
export class Alerts extends pulumi.ComponentResource {
  readonly channels: gcp.monitoring.NotificationChannel[];
  readonly metrics: Record<string, gcp.logging.Metric> = {};
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
    for (const p of args.policies) {
      const missing = p.metricNames.filter((n) => !this.metrics[n]);
      if (missing.length) throw new Error(`alert policy ${p.id} reads log metric(s) ${missing.join(', ')} that are not defined`);
      this.policies[p.id] = new gcp.monitoring.AlertPolicy(
        `${name}-${p.id}`,
        { project: args.project, ...p.args, notificationChannels: this.channels.map((c) => c.name) },
        // A policy over a log-based metric fails to create before the metric exists.
        { ...child, dependsOn: p.metricNames.map((n) => this.metrics[n]) },
      );
    }
    this.registerOutputs({ policies: Object.keys(this.policies) });
  }
}
