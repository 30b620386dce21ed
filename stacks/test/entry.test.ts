import { runProgramMocked, stackConfigFromYaml } from '../mock-run';

/** The real entry point (package.json "main"), required after mocks and config like cmd/run requires it (cli-run.test.ts runs it through cmd/run itself). */
test('stacks/index.ts reads the stack config, builds the stack and exports its outputs', async () => {
  const run = await runProgramMocked('dev', stackConfigFromYaml('dev'), () => {
    let outputs: unknown;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded after mocks and config, like Pulumi does
      outputs = require('../index');
    });
    return outputs;
  });
  expect(Object.keys(run.outputs).sort()).toEqual(
    [
      'backboneUrl',
      'buckets',
      'dashboardAccess',
      'dashboardUrl',
      'dataset',
      'image',
      'pipelineRoot',
      'pipelineSpecUri',
      'preprocessingJob',
      'registry',
      'serviceAccounts',
      'serviceUrl',
      'triggerUrl',
    ].sort(),
  );
  expect(run.outputs.serviceUrl).toMatch(/^https:\/\/cv-dev-inference-/);
  expect(run.resources.filter((r) => r.type === 'gcp:cloudrunv2/service:Service')).toHaveLength(2);
});
