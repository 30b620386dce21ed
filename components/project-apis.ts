import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import * as time from '@pulumiverse/time';

/** The Google Cloud APIs the loop uses; every other component depends on them. */
export const REQUIRED_APIS = [
  'artifactregistry.googleapis.com',
  'aiplatform.googleapis.com',
  'bigquery.googleapis.com',
  'cloudresourcemanager.googleapis.com',
  'cloudscheduler.googleapis.com',
  'compute.googleapis.com',
  'iam.googleapis.com',
  'iamcredentials.googleapis.com',
  // IAP TCP forwarding to the Grafana VM (and its tunnel IAM).
  'iap.googleapis.com',
  'logging.googleapis.com',
  'monitoring.googleapis.com',
  'run.googleapis.com',
  'secretmanager.googleapis.com',
  'storage.googleapis.com',
] as const;

export interface ProjectApisArgs {
  project: pulumi.Input<string>;
  /** Defaults to {@link REQUIRED_APIS}. */
  apis?: readonly string[];
  /** Seconds to wait after enabling, before anything that uses the APIs is created (default 120). */
  propagationSeconds?: number;
}

/**
 * Enables the project's APIs (API enablement; "services" in Google's API, not Cloud Run
 * services). They are never disabled on destroy: other things in the project may use
 * them, and disabling an API can delete data.
 */
export class ProjectApis extends pulumi.ComponentResource {
  readonly apis: Record<string, gcp.projects.Service>;
  /**
   * A freshly enabled API answers 403 for minutes after `services.enable` returns. This
   * wait runs once, when created (and again when the list of APIs changes); depend on it
   * (or on the component, which includes it) before using any of the APIs.
   */
  readonly propagated: time.Sleep;

  constructor(name: string, args: ProjectApisArgs, opts?: pulumi.ComponentResourceOptions) {
    // The alias keeps the URNs of stacks created before the rename: nothing is replaced.
    super(
      'creature-vision:project:Apis',
      name,
      {},
      { ...opts, aliases: [...(opts?.aliases ?? []), { type: 'creature-vision:project:Services' }] },
    );
    this.apis = {};
    for (const api of args.apis ?? REQUIRED_APIS) {
      this.apis[api] = new gcp.projects.Service(
        `${name}-${api.split('.')[0]}`,
        { project: args.project, service: api, disableOnDestroy: false, disableDependentServices: false },
        { parent: this },
      );
    }
    const names = Object.keys(this.apis).sort();
    this.propagated = new time.Sleep(
      `${name}-propagation`,
      { createDuration: `${args.propagationSeconds ?? 120}s`, triggers: { apis: names.join(',') } },
      { parent: this, dependsOn: Object.values(this.apis) },
    );
    this.registerOutputs({ apis: Object.keys(this.apis) });
  }
}
