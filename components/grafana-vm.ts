import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { childOptions, gcpLabels, grantNames, resourceId, RoleGrant, saMember } from './base';
import { GRAFANA_PORT, grafanaStartupScript, packProvisioning, PROVISIONING_METADATA_KEY, RELEASE_VERSION } from './grafana-startup';

export interface GrafanaVmArgs {
  project: pulumi.Input<string>;
  region: pulumi.Input<string>;
  zone: pulumi.Input<string>;
  prefix: string;
  machineType: string;
  /** VPC network (self link or name); default `default`. */
  network?: pulumi.Input<string>;
  /** Subnetwork (self link or name), required for custom-mode networks; default: the network's subnet in the region. */
  subnetwork?: pulumi.Input<string>;
  /** Give the VM an external IP. Without one it reaches apt through Cloud NAT and is browsed through IAP or a VPN. */
  publicIp: boolean;
  /** CIDR ranges allowed to reach Grafana's port (and nothing else). */
  allowedSourceRanges: string[];
  /** The grafana workload's service account (dataset viewer + job user are granted elsewhere). */
  serviceAccountEmail: pulumi.Input<string>;
  /** A Pulumi secret; stored in Secret Manager, read by the VM at boot. Generated (random, 24 characters) when absent. */
  adminPassword?: pulumi.Input<string>;
  /** Principals (`user:…`, `group:…`) granted `roles/iap.tunnelResourceAccessor` on this VM, to browse it through an IAP tunnel. */
  iapTunnelMembers?: string[];
  /** Pinned Grafana release from apt.grafana.com, e.g. `12.2.0`. */
  grafanaVersion: string;
  /** Pinned grafana-bigquery-datasource plugin release, e.g. `3.2.0`. */
  bigqueryPluginVersion: string;
  /** Provisioning files by absolute path on the VM (datasources, dashboard providers, dashboards, alert rules). */
  files: pulumi.Input<Record<string, pulumi.Input<string>>>;
  deletionProtection: boolean;
  labels?: Record<string, string>;
}

/**
 * Grafana on a shielded Compute Engine VM: BigQuery datasource through the VM's
 * service account (no key files), dashboards provisioned from the repo, admin password in
 * Secret Manager, firewall limited to the configured ranges, no public IP unless asked.
 */
export class GrafanaVm extends pulumi.ComponentResource {
  readonly secret: gcp.secretmanager.Secret;
  readonly secretVersion: gcp.secretmanager.SecretVersion;
  readonly secretAccess: gcp.secretmanager.SecretIamMember;
  readonly firewall: gcp.compute.Firewall;
  readonly router?: gcp.compute.Router;
  readonly nat?: gcp.compute.RouterNat;
  readonly instance: gcp.compute.Instance;
  readonly iapTunnelBindings: gcp.iap.TunnelInstanceIAMMember[] = [];
  readonly generatedPassword?: random.RandomPassword;
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: GrafanaVmArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validate before registering anything: a component that throws after super() leaves a dangling registration.
    if (args.allowedSourceRanges.length === 0) throw new Error('grafana.allowedSourceRanges: give at least one CIDR range');
    const tunnelGrants: RoleGrant[] = (args.iapTunnelMembers ?? []).map((member) => ({ role: 'roles/iap.tunnelResourceAccessor', member }));
    const tunnelNames = grantNames(`${name}-iap`, tunnelGrants);
    for (const [key, v] of [
      ['grafanaVersion', args.grafanaVersion],
      ['bigqueryPluginVersion', args.bigqueryPluginVersion],
    ] as const) {
      if (!RELEASE_VERSION.test(v)) throw new Error(`grafana ${key} ${JSON.stringify(v)}: expected a release number like 12.2.0`);
    }
    super('creature-vision:monitoring:GrafanaVm', name, {}, opts);
    const child = childOptions(this, opts);
    const network = args.network ?? 'default';
    const tag = resourceId(63, args.prefix, 'grafana');

    this.secret = new gcp.secretmanager.Secret(
      `${name}-admin-password`,
      {
        project: args.project,
        secretId: resourceId(255, args.prefix, 'grafana-admin-password'),
        replication: { auto: {} },
        deletionProtection: args.deletionProtection,
        labels: gcpLabels(args.labels),
      },
      child,
    );
    if (args.adminPassword === undefined) {
      this.generatedPassword = new random.RandomPassword(`${name}-admin-password`, { length: 24, special: false }, child);
    }
    this.secretVersion = new gcp.secretmanager.SecretVersion(
      `${name}-admin-password-v`,
      { secret: this.secret.id, secretData: pulumi.secret(args.adminPassword ?? this.generatedPassword!.result) },
      child,
    );
    this.secretAccess = new gcp.secretmanager.SecretIamMember(
      `${name}-admin-password-accessor`,
      {
        project: args.project,
        secretId: this.secret.secretId,
        role: 'roles/secretmanager.secretAccessor',
        member: saMember(args.serviceAccountEmail),
      },
      child,
    );

    this.firewall = new gcp.compute.Firewall(
      `${name}-ingress`,
      {
        project: args.project,
        name: resourceId(63, args.prefix, 'grafana-ingress'),
        network,
        direction: 'INGRESS',
        description: `Grafana (tcp:${GRAFANA_PORT}) from the configured source ranges only`,
        allows: [{ protocol: 'tcp', ports: [String(GRAFANA_PORT)] }],
        sourceRanges: args.allowedSourceRanges,
        targetTags: [tag],
      },
      child,
    );

    if (!args.publicIp) {
      // Without an external IP the VM still needs egress to apt.grafana.com and grafana.com (plugin).
      this.router = new gcp.compute.Router(
        `${name}-router`,
        { project: args.project, region: args.region, network, name: resourceId(63, args.prefix, 'grafana-router') },
        child,
      );
      this.nat = new gcp.compute.RouterNat(
        `${name}-nat`,
        {
          project: args.project,
          region: args.region,
          router: this.router.name,
          name: resourceId(63, args.prefix, 'grafana-nat'),
          natIpAllocateOption: 'AUTO_ONLY',
          sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
        },
        child,
      );
    }

    const provisioning = pulumi.output(args.files).apply((files) => packProvisioning(files as Record<string, string>));
    const startup = pulumi
      .all([args.project, this.secret.secretId])
      .apply(([project, secretId]) =>
        grafanaStartupScript({ project, secretId, grafanaVersion: args.grafanaVersion, bigqueryPluginVersion: args.bigqueryPluginVersion }),
      );
    this.instance = new gcp.compute.Instance(
      `${name}-vm`,
      {
        project: args.project,
        zone: args.zone,
        name: resourceId(63, args.prefix, 'grafana'),
        machineType: args.machineType,
        tags: [tag],
        labels: gcpLabels(args.labels),
        bootDisk: { initializeParams: { image: 'debian-cloud/debian-12', size: 20, type: 'pd-balanced' } },
        networkInterfaces: [{ network, subnetwork: args.subnetwork, accessConfigs: args.publicIp ? [{}] : [] }],
        serviceAccount: { email: args.serviceAccountEmail, scopes: ['cloud-platform'] },
        shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
        // The script is the `startup-script` metadata key, updated in place; the provider's
        // metadataStartupScript would replace the VM on every change (and prod's deletion
        // protection would then block the update). It runs at the next boot.
        metadata: {
          'startup-script': startup,
          [PROVISIONING_METADATA_KEY]: provisioning,
          'enable-oslogin': 'TRUE',
          'block-project-ssh-keys': 'TRUE',
        },
        allowStoppingForUpdate: true,
        deletionProtection: args.deletionProtection,
      },
      { ...child, dependsOn: [this.secretVersion, this.secretAccess, ...(this.nat ? [this.nat] : [])] },
    );
    tunnelGrants.forEach((g, i) => {
      this.iapTunnelBindings.push(
        new gcp.iap.TunnelInstanceIAMMember(
          tunnelNames[i],
          { project: args.project, zone: args.zone, instance: this.instance.name, role: g.role, member: g.member },
          child,
        ),
      );
    });
    const ip = this.instance.networkInterfaces.apply((nics) =>
      args.publicIp ? (nics[0]?.accessConfigs?.[0]?.natIp ?? '') : (nics[0]?.networkIp ?? ''),
    );
    this.url = pulumi.interpolate`http://${ip}:${GRAFANA_PORT}`;
    this.registerOutputs({ url: this.url });
  }
}
