import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { bigQuerySchema } from '../workloads/core/warehouse/schema-dsl';
import { TABLE_NAMES, tableDef, TableName } from '../workloads/core/warehouse/tables';
import { childOptions, gcpLabels, grantNames, RoleGrant } from './base';

export interface WarehouseArgs {
  project: pulumi.Input<string>;
  location: pulumi.Input<string>;
  datasetId: string;
  /** Partitions older than this are dropped; 0 keeps them forever. */
  partitionExpirationDays: number;
  /** Table deletion protection, no delete-contents-on-destroy, and `protect` (prod). */
  deletionProtection: boolean;
  labels?: Record<string, string>;
  /** Dataset-level IAM: only for who reads every table (e.g. a dashboard's `roles/bigquery.dataViewer`). */
  grants?: RoleGrant[];
  /** Table-level IAM: who may append to or read which table. */
  tableGrants?: Partial<Record<TableName, RoleGrant[]>>;
}

/** The BigQuery JSON schema string for a table, straight from the workloads' table definitions. */
export function tableSchemaJson(table: TableName): string {
  return JSON.stringify(bigQuerySchema(tableDef(table)));
}

/**
 * The BigQuery dataset and one table per definition in workloads/core/warehouse/tables.ts:
 * the same schemas DuckDB uses locally, daily time partitioning on each table's
 * partition field, clustering, and a per-stack partition expiration.
 */
export class Warehouse extends pulumi.ComponentResource {
  readonly dataset: gcp.bigquery.Dataset;
  readonly tables: Record<TableName, gcp.bigquery.Table>;
  readonly bindings: gcp.bigquery.DatasetIamMember[] = [];
  readonly tableBindings: gcp.bigquery.IamMember[] = [];
  readonly datasetId: pulumi.Output<string>;

  constructor(name: string, args: WarehouseArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validate before registering anything: a component that throws after super() leaves a dangling registration.
    const datasetGrants = args.grants ?? [];
    const datasetGrantNames = grantNames(name, datasetGrants);
    const tablePlan = (Object.entries(args.tableGrants ?? {}) as [TableName, RoleGrant[]][]).map(([table, grants]) => {
      if (!TABLE_NAMES.includes(table)) throw new Error(`table grants for ${table}: no such table; tables are ${TABLE_NAMES.join(', ')}`);
      return { table, grants, names: grantNames(`${name}-${table}`, grants) };
    });
    super('creature-vision:warehouse:Warehouse', name, {}, opts);
    const child = childOptions(this, opts);
    const labels = gcpLabels(args.labels);
    const expirationMs = args.partitionExpirationDays > 0 ? args.partitionExpirationDays * 86_400_000 : undefined;

    this.dataset = new gcp.bigquery.Dataset(
      `${name}-dataset`,
      {
        project: args.project,
        datasetId: args.datasetId,
        location: args.location,
        description: 'Creature Vision warehouse: predictions, feedback, datasets, training, registry and trigger decisions',
        deleteContentsOnDestroy: !args.deletionProtection,
        labels,
      },
      { ...child, protect: args.deletionProtection },
    );
    this.datasetId = this.dataset.datasetId;

    const tables = {} as Record<TableName, gcp.bigquery.Table>;
    for (const table of TABLE_NAMES) {
      const def = tableDef(table);
      tables[table] = new gcp.bigquery.Table(
        `${name}-${table}`,
        {
          project: args.project,
          datasetId: this.dataset.datasetId,
          tableId: def.name,
          description: def.description,
          schema: tableSchemaJson(table),
          timePartitioning: { type: 'DAY', field: def.partitionField, expirationMs },
          clusterings: def.clustering,
          deletionProtection: args.deletionProtection,
          labels,
        },
        child,
      );
    }
    this.tables = tables;

    datasetGrantNames.forEach((resourceName, i) => {
      this.bindings.push(
        new gcp.bigquery.DatasetIamMember(
          resourceName,
          { project: args.project, datasetId: this.dataset.datasetId, role: datasetGrants[i].role, member: datasetGrants[i].member },
          child,
        ),
      );
    });
    for (const { table, grants, names } of tablePlan) {
      names.forEach((resourceName, i) => {
        this.tableBindings.push(
          new gcp.bigquery.IamMember(
            resourceName,
            {
              project: args.project,
              datasetId: this.dataset.datasetId,
              tableId: tables[table].tableId,
              role: grants[i].role,
              member: grants[i].member,
            },
            child,
          ),
        );
      });
    }
    this.registerOutputs({ datasetId: this.datasetId });
  }
}
