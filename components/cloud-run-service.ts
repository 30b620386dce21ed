import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { childOptions, containerEnv, gcpLabels, grantNames, Member, resourceId, RoleGrant } from './base';

export interface ScalingArgs {
  minInstances: number;
  maxInstances: number;
  /** Concurrent requests per instance. */
  concurrency: number;
  /** e.g. `1`, `2`, `1000m`. */
  cpu: string;
  /** e.g. `1Gi`, `512Mi`. */
  memory: string;
  /** CPU only while a request is being handled (cheaper; off for services with background work). */
  cpuIdle: boolean;
}

export interface ProbeArgs {
  /**
   * The startup probe's endpoint: "the process is up", e.g. `/healthz`. Never an endpoint that
   * waits for data a fresh stack cannot have yet (a model): Cloud Run marks a revision whose
   * startup probe never passes as failed, and the deployment with it.
   */
  startupPath: string;
  /** Liveness endpoint, e.g. `/healthz`. */
  livenessPath: string;
  /** Seconds the startup probe allows in all (period × failure threshold). */
  startupBudgetSeconds?: number;
}

export interface WorkloadServiceArgs {
  project: pulumi.Input<string>;
  region: pulumi.Input<string>;
  serviceName: string;
  description: string;
  /** Digest reference (`...@sha256:...`), never a tag. */
  image: pulumi.Input<string>;
  /** Entry point, when the image's default command is not the service (e.g. a CLI's `serve`). */
  command?: string[];
  serviceAccountEmail: pulumi.Input<string>;
  env: pulumi.Input<Record<string, pulumi.Input<string>>>;
  scaling: ScalingArgs;
  probes: ProbeArgs;
  /** Request timeout in seconds. */
  timeoutSeconds?: number;
  deletionProtection: boolean;
  /** Members allowed to call the service (`roles/run.invoker`). */
  invokers: Member[];
  /** Also allow unauthenticated calls (`allUsers`). Only when the stack says so. */
  publicInvoker: boolean;
  labels?: Record<string, string>;
}

export const CONTAINER_PORT = 8080;

/** The Cloud Run service name a `serviceName` argument becomes (known before deployment). */
const cloudRunServiceName = (serviceName: string): string => resourceId(49, serviceName);

/**
 * The service's deterministic URL, `https://<service>-<project number>.<region>.run.app`,
 * known before the service exists: what a caller's OIDC token names as audience and what the
 * service, configured with it, checks (its `uri` output is the other, hash-based URL).
 */
export function deterministicServiceUrl(serviceName: string, projectNumber: string, region: string): string {
  return `https://${cloudRunServiceName(serviceName)}-${projectNumber}.${region}.run.app`;
}

/**
 * A workload as a Cloud Run v2 service: digest-pinned image, its own service account,
 * environment from stack config, scaling and resources, startup and liveness probes on
 * the service's health endpoints, and invoker IAM limited to named members.
 */
export class WorkloadService extends pulumi.ComponentResource {
  readonly service: gcp.cloudrunv2.Service;
  readonly invokerBindings: gcp.cloudrunv2.ServiceIamMember[] = [];
  readonly uri: pulumi.Output<string>;
  /** The Cloud Run service name (known before deployment; alert filters use it). */
  readonly serviceName: string;

  constructor(name: string, args: WorkloadServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validate before registering anything: a component that throws after super() leaves a dangling registration.
    const s = args.scaling;
    if (s.minInstances > s.maxInstances) {
      throw new Error(`${args.serviceName}: minInstances (${s.minInstances}) is greater than maxInstances (${s.maxInstances})`);
    }
    const invokerGrants: RoleGrant[] = [...args.invokers, ...(args.publicInvoker ? [{ member: 'allUsers' }] : [])].map((m) => ({
      ...m,
      role: 'roles/run.invoker',
    }));
    const invokerNames = grantNames(name, invokerGrants);
    super('creature-vision:run:WorkloadService', name, {}, opts);
    const child = childOptions(this, opts);
    this.serviceName = cloudRunServiceName(args.serviceName);
    const period = 5;
    const startupFailures = Math.max(1, Math.ceil((args.probes.startupBudgetSeconds ?? 240) / period));

    this.service = new gcp.cloudrunv2.Service(
      `${name}-service`,
      {
        project: args.project,
        location: args.region,
        name: this.serviceName,
        description: args.description,
        ingress: 'INGRESS_TRAFFIC_ALL',
        deletionProtection: args.deletionProtection,
        labels: gcpLabels(args.labels),
        template: {
          serviceAccount: args.serviceAccountEmail,
          maxInstanceRequestConcurrency: s.concurrency,
          timeout: `${args.timeoutSeconds ?? 300}s`,
          scaling: { minInstanceCount: s.minInstances, maxInstanceCount: s.maxInstances },
          labels: gcpLabels(args.labels),
          containers: [
            {
              name: 'workload',
              image: args.image,
              commands: args.command,
              ports: { containerPort: CONTAINER_PORT, name: 'http1' },
              envs: containerEnv(args.env),
              resources: { limits: { cpu: s.cpu, memory: s.memory }, cpuIdle: s.cpuIdle, startupCpuBoost: true },
              startupProbe: {
                httpGet: { path: args.probes.startupPath, port: CONTAINER_PORT },
                periodSeconds: period,
                timeoutSeconds: 3,
                failureThreshold: startupFailures,
              },
              livenessProbe: {
                httpGet: { path: args.probes.livenessPath, port: CONTAINER_PORT },
                periodSeconds: 15,
                timeoutSeconds: 3,
                failureThreshold: 3,
              },
            },
          ],
        },
      },
      child,
    );
    this.uri = this.service.uri;

    invokerGrants.forEach((g, i) => {
      this.invokerBindings.push(
        new gcp.cloudrunv2.ServiceIamMember(
          invokerNames[i],
          { project: args.project, location: args.region, name: this.service.name, role: g.role, member: g.member },
          child,
        ),
      );
    });
    this.registerOutputs({ uri: this.uri });
  }
}
