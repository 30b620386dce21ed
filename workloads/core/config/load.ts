import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { WorkloadConfig, workloadConfigSchema } from './schema';

/**
 * Reads {@link WorkloadConfig} from the environment:
 *  - `CV_CONFIG_FILE`: optional JSON file with any part of the config;
 *  - one variable per key, `CV_` + the key path in SCREAMING_SNAKE_CASE, e.g.
 *    `training.epochs` → `CV_TRAINING_EPOCHS`, `dogApi.baseUrl` → `CV_DOG_API_BASE_URL`.
 *    Values are parsed as JSON when they parse (numbers, booleans), else taken as strings.
 * Anything invalid or unknown fails with a {@link ConfigError} naming the key, the value,
 * where it came from, and what is accepted.
 */

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export const ENV_PREFIX = 'CV_';
/**
 * CV_ variables that are not configuration keys: the config file's path, and the test
 * suite's switch for its slow end-to-end tests (set in CI, inherited by every process the
 * tests start). Any other unknown CV_ name is refused as a likely misspelling.
 */
export const NON_CONFIG_ENV = ['CV_CONFIG_FILE', 'CV_E2E'] as const;

export function envNameOf(keyPath: string[]): string {
  return ENV_PREFIX + keyPath.map((k) => k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

/** Every leaf key path of an object schema (used to map env names and report unknown ones). */
export function leafPaths(schema: z.ZodType, prefix: string[] = []): string[][] {
  const s = unwrap(schema);
  if (s instanceof z.ZodObject) {
    return Object.entries(s.shape as Record<string, z.ZodType>).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
  }
  return [prefix];
}

/** Keys below the top level that the schema does not know (the top level is `.strict()`). */
function unknownNestedKeys(schema: z.ZodType, value: unknown, prefix: string[] = []): string[] {
  const s = unwrap(schema);
  if (!(s instanceof z.ZodObject) || typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const shape = s.shape as Record<string, z.ZodType>;
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    if (k in shape) return unknownNestedKeys(shape[k], v, [...prefix, k]);
    return prefix.length ? [[...prefix, k].join('.')] : [];
  });
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    const def = (s as unknown as { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } }).def;
    if ((def.type === 'default' || def.type === 'prefault' || def.type === 'optional' || def.type === 'nullable') && def.innerType)
      s = def.innerType;
    else if (def.type === 'pipe' && def.in) s = def.in;
    else return s;
  }
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Values that take precedence over everything (used by tests and the local supervisor). */
  overrides?: DeepPartial<WorkloadConfig>;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export function loadConfig(options: LoadOptions = {}): WorkloadConfig {
  const env = options.env ?? process.env;
  const raw: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  const problems: string[] = [];

  const file = env.CV_CONFIG_FILE;
  if (file) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path.resolve(file), 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new Error(`it holds ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}, not an object`);
      }
      deepMerge(raw, parsed as Record<string, unknown>);
      // Only keys the file really sets are attributed to it in messages.
      for (const p of leafPaths(workloadConfigSchema)) if (getPath(parsed, p) !== undefined) sources.set(p.join('.'), `file ${file}`);
      // zod strips unknown nested keys silently, so a typo (`training.epoch`) would be ignored: report it.
      for (const k of unknownNestedKeys(workloadConfigSchema, parsed)) problems.push(`unknown key ${k} (file ${file})`);
    } catch (err) {
      problems.push(`CV_CONFIG_FILE=${file}: cannot read a JSON object from it (${(err as Error).message})`);
    }
  }

  const byEnv = new Map(leafPaths(workloadConfigSchema).map((p) => [envNameOf(p), p]));
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || (NON_CONFIG_ENV as readonly string[]).includes(name) || value === undefined) continue;
    const keyPath = byEnv.get(name);
    if (!keyPath) {
      problems.push(`unknown environment variable ${name}; configuration variables are ${[...byEnv.keys()].join(', ')}`);
      continue;
    }
    setPath(raw, keyPath, parseEnvValue(value));
    sources.set(keyPath.join('.'), `env ${name}`);
  }
  if (options.overrides) deepMerge(raw, options.overrides as Record<string, unknown>);

  const result = workloadConfigSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(describeIssue(issue, raw, sources));
  }
  if (problems.length) throw new ConfigError(problems);
  return result.data!;
}

/** A precise message: key, where it came from, the value, and what is accepted. */
export function describeIssue(issue: z.core.$ZodIssue, raw: unknown, sources: Map<string, string> = new Map()): string {
  const keyPath = issue.path.map(String);
  const key = keyPath.join('.') || '(root)';
  const value = getPath(raw, keyPath);
  const from = sources.get(key) ?? (keyPath.length ? `env ${envNameOf(keyPath)}` : 'config');
  let accepted = issue.message;
  if (issue.code === 'invalid_value' && 'values' in issue)
    accepted = `expected one of ${(issue.values as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.code === 'unrecognized_keys') {
    return `unknown key(s) ${(issue.keys as string[]).map((k) => [...keyPath, k].join('.')).join(', ')} in ${key}`;
  }
  return `config key ${key} (${from}) = ${value === undefined ? '(missing)' : JSON.stringify(value)}: ${accepted}`;
}

function parseEnvValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function setPath(obj: Record<string, unknown>, keyPath: string[], value: unknown): void {
  let cur = obj;
  for (const k of keyPath.slice(0, -1)) {
    if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keyPath[keyPath.length - 1]] = value;
}

function getPath(obj: unknown, keyPath: string[]): unknown {
  let cur = obj;
  for (const k of keyPath) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(source)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && typeof target[k] === 'object' && target[k] !== null) {
      deepMerge(target[k] as Record<string, unknown>, v as Record<string, unknown>);
    } else if (v && typeof v === 'object' && !Array.isArray(v)) {
      target[k] = {};
      deepMerge(target[k] as Record<string, unknown>, v as Record<string, unknown>);
    } else {
      target[k] = v;
    }
  }
}

/** Converts a config back to environment variables (used to configure child processes and Cloud Run). */
export function configToEnv(config: DeepPartial<WorkloadConfig>): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (obj: Record<string, unknown>, prefix: string[]): void => {
    for (const [k, v] of Object.entries(obj)) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, [...prefix, k]);
      else if (v !== undefined) out[envNameOf([...prefix, k])] = typeof v === 'string' ? v : JSON.stringify(v);
    }
  };
  walk(config as Record<string, unknown>, []);
  return out;
}
