import * as pulumi from '@pulumi/pulumi';
import { Alerts } from '../components/alerts';
import { WorkloadService } from '../components/cloud-run-service';
import { cloudMonitoringAlerts } from '../workloads/monitoring/cloud-alerts';
import { StackConfig } from './config';

/**
 * Cloud Monitoring alerts from the one alert definition in workloads/monitoring (the same
 * thresholds the local dashboard banner evaluates), scoped to this stack's inference
 * service and e-mailed to the configured addresses.
 */
export function createAlerts(cfg: StackConfig, inference: WorkloadService, opts: pulumi.ComponentResourceOptions): Alerts {
  const rendered = cloudMonitoringAlerts({
    metricPrefix: `${cfg.prefix.replace(/-/g, '_')}_`,
    inferenceService: inference.serviceName,
    displayNamePrefix: `Creature Vision (${cfg.stack})`,
    thresholds: cfg.workload.monitoring.alerts,
  });
  return new Alerts(
    'alerts',
    {
      project: cfg.project,
      displayName: `Creature Vision (${cfg.stack})`,
      notificationEmails: cfg.alerts.notificationEmails,
      metrics: rendered.metrics,
      policies: rendered.policies,
      metricPropagationSeconds: cfg.propagationWait.logMetricsSeconds,
    },
    opts,
  );
}
