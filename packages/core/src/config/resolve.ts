import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UserError, UserErrors } from '../errors.js';
import { type ParsedArgs, parseCommandLine } from './args.js';
import { type Config, closest, defaults, envName, FIELDS, type FieldSpec, flagName, schema } from './schema.js';

/**
 * Resolution: defaults (the walkthrough's values) <- config file <- CNI_DEMO_* env <- flags, then every
 * field's check, with every problem reported at once.
 */

/** Converts text from env or a flag into the field's type. */
function fromText(field: keyof Config, text: string, where: string): unknown {
  const { kind } = schema[field];
  switch (kind) {
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw new UserError(`${where}: "${text}" is not true or false`, { field, hint: `set ${where} to true or false` });
    case 'int':
      if (!/^-?\d+$/.test(text.trim())) {
        throw new UserError(`${where}: "${text}" is not a whole number`, { field, hint: `set ${where} to a number` });
      }
      return Number(text);
    case 'list':
      return text.split(':').filter((s) => s !== '');
    default:
      return text;
  }
}

/** A relative path of a field that allows one, made absolute against `base` (see FieldSpec.relativePaths). */
function absolutize(field: keyof Config, value: unknown, base: string): unknown {
  if (!schema[field].relativePaths) return value;
  const abs = (p: string) => (p === '' || path.isAbsolute(p) ? p : path.resolve(base, p));
  return Array.isArray(value) ? value.map((p) => (typeof p === 'string' ? abs(p) : p)) : typeof value === 'string' ? abs(value) : value;
}

function fromJson(field: keyof Config, value: unknown, where: string): unknown {
  const { kind } = schema[field];
  const bad = (want: string) =>
    new UserError(`${where}: expected ${want}, got ${JSON.stringify(value)}`, { field, hint: `give "${field}" ${want}` });
  switch (kind) {
    case 'bool':
      if (typeof value !== 'boolean') throw bad('true or false');
      return value;
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw bad('a whole number');
      return value;
    case 'list':
      if (typeof value === 'string') return value.split(':').filter((s) => s !== '');
      if (!Array.isArray(value) || value.some((x) => typeof x !== 'string')) throw bad('a list of strings');
      return value;
    default:
      if (typeof value !== 'string') throw bad('a string');
      return value;
  }
}

const FIELD_BY_ENV = new Map(FIELDS.map((f) => [envName(f), f]));

export interface ResolveInput {
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** an object standing for a config file (tests) */
  file?: Record<string, unknown>;
  /** accept plain arguments (subcommands); refused otherwise, so `--flag value` typos do not pass silently */
  allowPositionals?: boolean;
}

export interface Resolved {
  config: Config;
  args: ParsedArgs;
}

/** Resolves the config from all sources and validates it, reporting every problem at once. */
export function resolveConfig(input: ResolveInput = {}): Resolved {
  const env = input.env ?? process.env;
  const args = parseCommandLine(input.argv ?? []);
  const cfg = defaults() as unknown as Record<string, unknown>;
  const problems: UserError[] = [];
  // the fields some source set: a gateway nobody set follows its subnet
  const given = new Set<string>();
  if (!input.allowPositionals) {
    for (const p of args.positionals) {
      const hint = /^(true|false)$/i.test(p)
        ? `a switch takes no separate value: write --<switch>=${p.toLowerCase()}${/^false$/i.test(p) ? ' or --no-<switch>' : ''}`
        : 'options take the form --name value; --help lists them';
      problems.push(new UserError(`unexpected argument "${p}"`, { hint }));
    }
  }
  const attempt = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      if (e instanceof UserError) problems.push(e);
      else throw e;
    }
  };

  const configFile = args.configFile ?? env.CNI_DEMO_CONFIG;
  let file = input.file;
  if (!file && configFile) file = readConfigFile(configFile);
  const fileName = configFile ?? 'config';
  if (file) {
    for (const [key, value] of Object.entries(file)) {
      if (key === '$schema' || key === '//') continue;
      if (!(key in schema)) {
        const guess = closest(key, FIELDS);
        problems.push(
          new UserError(`${fileName}: unknown key "${key}"`, {
            field: key,
            hint: guess ? `did you mean "${guess}"?` : `remove it; known keys: ${FIELDS.join(', ')}`,
          }),
        );
        continue;
      }
      given.add(key);
      attempt(() => {
        const base = configFile && !input.file ? path.dirname(path.resolve(configFile)) : process.cwd();
        cfg[key] = absolutize(key as keyof Config, fromJson(key as keyof Config, value, `${fileName}: "${key}"`), base);
      });
    }
  }

  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('CNI_DEMO_') || name === 'CNI_DEMO_CONFIG' || value === undefined) continue;
    const field = FIELD_BY_ENV.get(name);
    if (!field) {
      const guess = closest(name, FIELD_BY_ENV.keys());
      problems.push(
        new UserError(`unknown environment variable ${name}`, {
          hint: guess ? `did you mean ${guess}?` : `unset it; known: ${[...FIELD_BY_ENV.keys()].join(', ')}`,
        }),
      );
      continue;
    }
    given.add(field);
    attempt(() => {
      cfg[field] = absolutize(field, fromText(field, value, name), process.cwd());
    });
  }

  for (const [field, value] of args.fields) {
    given.add(field);
    attempt(() => {
      cfg[field] = absolutize(field, fromText(field, value, `--${flagName(field)}`), process.cwd());
    });
  }

  // a field no source set whose default follows other fields (a gateway: its subnet's first address)
  for (const f of FIELDS) {
    const spec = schema[f] as FieldSpec;
    if (given.has(f) || !spec.derive) continue;
    const value = spec.derive(cfg as unknown as Config);
    if (value !== undefined) cfg[f] = value;
  }

  const config = cfg as unknown as Config;
  if (problems.length === 0) {
    for (const f of FIELDS) {
      const spec = schema[f] as FieldSpec;
      const problem = spec.check?.(config[f], config);
      if (problem) {
        problems.push(
          new UserError(`${f}: ${problem}`, {
            field: f,
            hint: `set it with --${flagName(f)}, ${envName(f)} or "${f}" in the config file`,
          }),
        );
      }
    }
  }
  if (problems.length === 1 && problems[0]) throw problems[0];
  if (problems.length > 1) throw new UserErrors(problems, `${problems.length} problems in the configuration`);
  return { config, args };
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`config file ${file} cannot be read (${code ?? String(e)})`, {
      field: 'config',
      hint: 'check the path given to --config or CNI_DEMO_CONFIG',
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UserError(`config file ${file} is not valid JSON: ${(e as Error).message}`, {
      field: 'config',
      hint: 'fix the JSON syntax (a trailing comma is the usual cause)',
    });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UserError(`config file ${file} must hold a JSON object`, { field: 'config', hint: 'wrap the settings in { }' });
  }
  return parsed as Record<string, unknown>;
}
