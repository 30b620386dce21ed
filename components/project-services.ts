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

export interface ProjectServicesArgs {
  project: pulumi.Input<string>;
  /** Defaults to {@link REQUIRED_APIS}. */
  apis?: readonly string[];
}

/**
 * Enables the project's APIs. They are never disabled on destroy: other things in the
 * project may use them, and disabling an API can delete data.
 */
export class ProjectServices extends pulumi.ComponentResource {
  readonly services: Record<string, gcp.projects.Service>;

  constructor(name: string, args: ProjectServicesArgs, opts?: pulumi.ComponentResourceOptions) {
    super('creature-vision:project:Services', name, {}, opts);
    this.services = {};
    for (const api of args.apis ?? REQUIRED_APIS) {
      this.services[api] = new gcp.projects.Service(
        `${name}-${api.split('.')[0]}`,
        { project: args.project, service: api, disableOnDestroy: false, disableDependentServices: false },
        { parent: this },
      );
    }
    this.registerOutputs({ services: Object.keys(this.services) });
  }
}
