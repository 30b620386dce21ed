import * as grpc from '@grpc/grpc-js';
import * as pulumi from '@pulumi/pulumi';
import * as engineGrpc from '@pulumi/pulumi/proto/engine_grpc_pb';
import * as enginePb from '@pulumi/pulumi/proto/engine_pb';
import * as providerPb from '@pulumi/pulumi/proto/provider_pb';
import * as resourceGrpc from '@pulumi/pulumi/proto/resource_grpc_pb';
import * as resourcePb from '@pulumi/pulumi/proto/resource_pb';
import { Empty } from 'google-protobuf/google/protobuf/empty_pb';
import { Struct } from 'google-protobuf/google/protobuf/struct_pb';
import { mockInvoke, mockResourceState, PlannedResource, plannedResource, plainInputs } from '../mock-run';

/**
 * A mocked Pulumi engine on real gRPC: the ResourceMonitor and Engine services a program
 * run by `@pulumi/pulumi/cmd/run` talks to, served from the stubs generated in
 * `@pulumi/pulumi/proto`. Every registration is recorded like the in-process mocks record
 * it (stacks/mock-run.ts), and every resource is answered with the same mock provider
 * state (`mockResourceState`), so a program run the way the Pulumi CLI runs it can be
 * compared with the in-process run.
 */

/** Features the monitor reports. Resource references and output values stay off so inputs arrive as plain values. */
const FEATURES: Record<string, boolean> = {
  secrets: true,
  resourceReferences: false,
  outputValues: false,
  deletedWith: true,
  replaceWith: true,
  aliasSpecs: true,
  transforms: false,
  invokeTransforms: false,
  parameterization: true,
  resourceHooks: false,
  errorHooks: false,
};

export interface EngineLog {
  severity: 'debug' | 'info' | 'warning' | 'error';
  message: string;
  urn: string;
}

export interface MockEngine {
  /** `127.0.0.1:<port>` for `--monitor` and `--engine` (one server serves both). */
  address: string;
  resources: PlannedResource[];
  /** The stack's outputs, as the program registered them on its root resource. */
  outputs(): Record<string, unknown>;
  logs: EngineLog[];
  close(): Promise<void>;
}

const SEVERITY: Record<number, EngineLog['severity']> = {
  [enginePb.LogSeverity.DEBUG]: 'debug',
  [enginePb.LogSeverity.INFO]: 'info',
  [enginePb.LogSeverity.WARNING]: 'warning',
  [enginePb.LogSeverity.ERROR]: 'error',
};

function newUrn(project: string, stack: string, parent: string, type: string, name: string): string {
  const qualified = parent ? `${parent.split('::')[2].split('$').pop()}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/** Starts the mocked engine for one program run of `project`/`stack` with `config` (flat `namespace:key` values). */
export async function startMockEngine(project: string, stack: string, config: Record<string, string>): Promise<MockEngine> {
  const gcpProject = config['gcp:project'] ?? 'mock-project';
  const resources: PlannedResource[] = [];
  const logs: EngineLog[] = [];
  const outputsByUrn = new Map<string, Record<string, unknown>>();
  let rootUrn = '';

  // Any failure inside a handler goes back to the program as a gRPC error, never an unhandled rejection here.
  const unary =
    <Req, Res>(handle: (req: Req) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      Promise.resolve()
        .then(() => handle(call.request))
        .then(
          (res) => callback(null, res),
          (err: Error) => callback({ code: grpc.status.INTERNAL, details: err.message } as grpc.ServiceError, null),
        );
    };
  // The program never calls these for this stack; if it does, it gets the answer an old engine would give.
  const unimplemented =
    <Req, Res>(): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) =>
      callback({ code: grpc.status.UNIMPLEMENTED, details: 'not implemented by the mocked engine' } as grpc.ServiceError, null);

  const monitor: resourceGrpc.IResourceMonitorServer = {
    supportsFeature: unary((req: resourcePb.SupportsFeatureRequest) =>
      new resourcePb.SupportsFeatureResponse().setHassupport(FEATURES[req.getId()] === true),
    ),
    registerResource: unary(async (req: resourcePb.RegisterResourceRequest) => {
      const inputs = (await plainInputs(pulumi.runtime.deserializeProperties(req.getObject()!))) as Record<string, unknown>;
      const urn = newUrn(project, stack, req.getParent(), req.getType(), req.getName());
      const state = req.getCustom() ? mockResourceState(req.getType(), req.getName(), inputs, gcpProject) : {};
      resources.push(plannedResource(req, urn, inputs, state));
      return new resourcePb.RegisterResourceResponse()
        .setUrn(urn)
        .setId(req.getCustom() ? `${req.getName()}-id` : '')
        .setObject(Struct.fromJavaScript(await pulumi.runtime.serializeProperties('mock-engine', state)));
    }),
    registerResourceOutputs: unary((req: resourcePb.RegisterResourceOutputsRequest) => {
      outputsByUrn.set(req.getUrn(), pulumi.runtime.deserializeProperties(req.getOutputs()!) as Record<string, unknown>);
      return new Empty();
    }),
    invoke: unary(async (req: resourcePb.ResourceInvokeRequest) => {
      const result = mockInvoke(req.getTok(), config);
      return new providerPb.InvokeResponse().setReturn(
        Struct.fromJavaScript(await pulumi.runtime.serializeProperties('mock-engine', result)),
      );
    }),
    registerPackage: unary(() => new resourcePb.RegisterPackageResponse().setRef('mock-package')),
    signalAndWaitForShutdown: unary(() => new Empty()),
    getDeploymentInfo: unimplemented(),
    call: unimplemented(),
    readResource: unimplemented(),
    registerStackTransform: unimplemented(),
    registerStackInvokeTransform: unimplemented(),
    registerResourceHook: unimplemented(),
    registerErrorHook: unimplemented(),
  };

  const engine: engineGrpc.IEngineServer = {
    log: unary((req: enginePb.LogRequest) => {
      logs.push({ severity: SEVERITY[req.getSeverity()] ?? 'info', message: req.getMessage(), urn: req.getUrn() });
      return new Empty();
    }),
    getRootResource: unary(() => new enginePb.GetRootResourceResponse().setUrn(rootUrn)),
    setRootResource: unary((req: enginePb.SetRootResourceRequest) => {
      rootUrn = req.getUrn();
      return new enginePb.SetRootResourceResponse();
    }),
    requirePulumiVersion: unary(() => new enginePb.RequirePulumiVersionResponse()),
    startDebugging: unimplemented(),
  };

  const server = new grpc.Server();
  server.addService(resourceGrpc.ResourceMonitorService, monitor);
  server.addService(engineGrpc.EngineService, engine);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );

  return {
    address: `127.0.0.1:${port}`,
    resources,
    outputs: () => outputsByUrn.get(rootUrn) ?? {},
    logs,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      }),
  };
}
