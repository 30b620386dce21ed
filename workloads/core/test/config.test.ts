import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, configToEnv, envNameOf, loadConfig } from '../config/load';

/** The message of the ConfigError thrown by loadConfig for this environment. */
function problemsOf(env: Record<string, string>): string {
  try {
    loadConfig({ env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-config-'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('gives the embedded local defaults with an empty environment', () => {
    const c = loadConfig({ env: {} });
    expect(c.storage.backend).toBe('local');
    expect(c.warehouse.backend).toBe('duckdb');
    expect(c.dogApi).toEqual({
      baseUrl: '',
      datasetDir: '../shared/datasets/dogs',
      timeoutMs: 10_000,
      imageHosts: ['images.dog.ceo'],
      breeds: [],
    });
    expect(c.training.augment.horizontalFlip).toBe(true);
  });

  it('reads typed values from CV_ variables (numbers, booleans, strings, nested keys)', () => {
    const c = loadConfig({
      env: {
        CV_TRAINING_EPOCHS: '3',
        CV_TRAINING_AUGMENT_HORIZONTAL_FLIP: 'false',
        CV_DOG_API_BASE_URL: 'https://dog.ceo',
        CV_WAREHOUSE_BACKEND: 'bigquery',
        PATH: '/usr/bin', // not ours: ignored
      },
    });
    expect(c.training.epochs).toBe(3);
    expect(c.training.augment.horizontalFlip).toBe(false);
    expect(c.dogApi.baseUrl).toBe('https://dog.ceo');
    expect(c.warehouse.backend).toBe('bigquery');
  });

  it('names the key, the variable, the value and what is accepted for a bad number', () => {
    expect(problemsOf({ CV_TRAINING_EPOCHS: 'many' })).toMatch(
      /config key training.epochs \(env CV_TRAINING_EPOCHS\) = "many": Invalid input: expected number, received string/,
    );
    expect(problemsOf({ CV_TRAINING_EPOCHS: '0' })).toContain(
      'config key training.epochs (env CV_TRAINING_EPOCHS) = 0: must be greater than 0',
    );
    expect(problemsOf({ CV_TRAINING_EPOCHS: '2.5' })).toContain('= 2.5: must be a whole number');
    expect(problemsOf({ CV_PREPROCESSING_TEST_SHARE: '1.5' })).toContain(
      'config key preprocessing.testShare (env CV_PREPROCESSING_TEST_SHARE) = 1.5: must be between 0 and 1',
    );
  });

  it('lists the accepted values for a bad enum', () => {
    expect(problemsOf({ CV_STORAGE_BACKEND: 's3' })).toContain(
      'config key storage.backend (env CV_STORAGE_BACKEND) = "s3": expected one of "local", "gcs"',
    );
  });

  it('reports every problem at once', () => {
    const msg = problemsOf({ CV_STORAGE_BACKEND: 's3', CV_INFERENCE_PORT: '70000' });
    expect(msg).toMatch(/^invalid configuration:\n {2}- /);
    expect(msg).toContain('storage.backend');
    expect(msg).toContain('config key inference.port (env CV_INFERENCE_PORT) = 70000');
  });

  it('rejects unknown CV_ variables, listing the real ones', () => {
    const msg = problemsOf({ CV_TRAINING_EPOCH: '3' });
    expect(msg).toContain('unknown environment variable CV_TRAINING_EPOCH; configuration variables are');
    expect(msg).toContain('CV_TRAINING_EPOCHS');
  });

  it('accepts the CV_ variables that are not configuration (the test switch CV_E2E, CV_CONFIG_FILE)', () => {
    expect(loadConfig({ env: { CV_E2E: '1', CV_TRAINING_EPOCHS: '3' } }).training.epochs).toBe(3);
  });

  it('the container image sets no CV_ variable the configuration would refuse', async () => {
    const dockerfile = await fs.readFile(path.resolve(__dirname, '../../Dockerfile'), 'utf8');
    const names = [...dockerfile.matchAll(/\b(CV_[A-Z0-9_]+)=/g)].map((m) => m[1]);
    const refusedName = (n: string): boolean => {
      try {
        loadConfig({ env: { [n]: '1' } });
        return false;
      } catch (err) {
        return (err as Error).message.includes(`unknown environment variable ${n}`);
      }
    };
    const refused = names.filter(refusedName);
    expect(refused).toEqual([]);
    expect(problemsOf({ CV_WORKLOAD: 'inference' })).toContain('unknown environment variable CV_WORKLOAD');
  });

  it('reads CV_CONFIG_FILE, with environment variables taking precedence', async () => {
    const file = path.join(dir, 'ok.json');
    await fs.writeFile(file, JSON.stringify({ training: { epochs: 7, batchSize: 8 }, storage: { backend: 'gcs' } }));
    const c = loadConfig({ env: { CV_CONFIG_FILE: file, CV_TRAINING_BATCH_SIZE: '16' } });
    expect([c.training.epochs, c.training.batchSize, c.storage.backend]).toEqual([7, 16, 'gcs']);
    expect(c.training.learningRate).toBe(0.001);
  });

  it('names the file for bad values in it, and the env variable for values that came from there', async () => {
    const file = path.join(dir, 'bad.json');
    await fs.writeFile(file, JSON.stringify({ training: { epochs: -1 } }));
    expect(problemsOf({ CV_CONFIG_FILE: file })).toContain(`config key training.epochs (file ${file}) = -1: must be greater than 0`);
    expect(problemsOf({ CV_CONFIG_FILE: file, CV_TRAINING_BATCH_SIZE: '"x"' })).toContain(
      'config key training.batchSize (env CV_TRAINING_BATCH_SIZE) = "x"',
    );
  });

  it('rejects unknown keys in the file, at the top and nested', async () => {
    const file = path.join(dir, 'typo.json');
    await fs.writeFile(file, JSON.stringify({ trainig: {}, training: { epoch: 5, augment: { flip: true } } }));
    const msg = problemsOf({ CV_CONFIG_FILE: file });
    expect(msg).toContain('trainig');
    expect(msg).toContain(`unknown key training.epoch (file ${file})`);
    expect(msg).toContain(`unknown key training.augment.flip (file ${file})`);
  });

  it('explains an unreadable or malformed CV_CONFIG_FILE', async () => {
    const missing = path.join(dir, 'missing.json');
    expect(problemsOf({ CV_CONFIG_FILE: missing })).toMatch(
      new RegExp(`CV_CONFIG_FILE=${missing}: cannot read a JSON object from it \\(ENOENT`),
    );
    const broken = path.join(dir, 'broken.json');
    await fs.writeFile(broken, '{"training": ');
    expect(problemsOf({ CV_CONFIG_FILE: broken })).toContain(`CV_CONFIG_FILE=${broken}: cannot read a JSON object from it`);
    const list = path.join(dir, 'list.json');
    await fs.writeFile(list, '[1, 2]');
    expect(problemsOf({ CV_CONFIG_FILE: list })).toContain(`CV_CONFIG_FILE=${list}: cannot read a JSON object from it`);
  });

  it('round-trips through configToEnv (how child processes and Cloud Run get their config)', () => {
    const c = loadConfig({ env: { CV_TRAINING_EPOCHS: '4', CV_DOG_API_BASE_URL: 'http://127.0.0.1:1234' } });
    const env = configToEnv(c);
    expect(env.CV_TRAINING_EPOCHS).toBe('4');
    expect(env[envNameOf(['dogApi', 'baseUrl'])]).toBe('http://127.0.0.1:1234');
    expect(loadConfig({ env })).toEqual(c);
  });

  it('lets overrides win over everything', () => {
    const c = loadConfig({ env: { CV_TRAINING_EPOCHS: '4' }, overrides: { training: { epochs: 9 } } });
    expect(c.training.epochs).toBe(9);
  });
});
