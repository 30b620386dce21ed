import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

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
}

/**
 * Enables the project's APIs (API enablement; "services" in Google's API, not Cloud Run
 * services). They are never disabled on destroy: other things in the project may use
 * them, and disabling an API can delete data.
 */
export class ProjectApis extends pulumi.ComponentResource {
  readonly apis: Record<string, gcp.projects.Service>;

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
    this.registerOutputs({ apis: Object.keys(this.apis) });
  }
}
