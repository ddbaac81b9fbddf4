import { parseArgs } from 'node:util';
import { UserError } from '../errors.js';
import { type Config, closest, FIELDS, flagName, schema } from './schema.js';

export interface ParsedArgs {
  /** field -> raw text given on the command line */
  fields: Map<keyof Config, string>;
  configFile: string | undefined;
  help: boolean;
  /** plain arguments, and everything after `--` */
  positionals: string[];
}

type Option = { type: 'string' | 'boolean'; short?: string };

/** node:util's option table, derived from the schema: a switch has a --no- form, every other field takes a value. */
const OPTIONS: Record<string, Option> = {
  help: { type: 'boolean', short: 'h' },
  config: { type: 'string' },
};
const FIELD_BY_OPTION = new Map<string, { field: keyof Config; negated: boolean }>();
for (const field of FIELDS) {
  const flag = flagName(field);
  const bool = schema[field].kind === 'bool';
  OPTIONS[flag] = { type: bool ? 'boolean' : 'string', ...(field === 'verbose' ? { short: 'v' } : {}) };
  FIELD_BY_OPTION.set(flag, { field, negated: false });
  if (bool) {
    OPTIONS[`no-${flag}`] = { type: 'boolean' };
    FIELD_BY_OPTION.set(`no-${flag}`, { field, negated: true });
  }
}

/**
 * Parses `--field value`, `--field=value`, `--switch`, `--no-switch`, `-h`, `-v`; `--` ends the options.
 * A switch never takes the next argument as its value (`--ip-masq false` leaves "false" a plain argument);
 * `--switch=false` sets one. Every step accepts every config flag, because `pnpm turbo run demo -- --subnet4 ...`
 * hands the same arguments to all of them. Unknown options are refused with the closest known one.
 */
export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  // not strict: the messages below name the field and the fix, and a value may start with "-"
  const { tokens } = parseArgs({ args: [...argv], options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const out: ParsedArgs = { fields: new Map(), configFile: undefined, help: false, positionals: [] };
  for (const t of tokens) {
    if (t.kind === 'positional') out.positionals.push(t.value);
    if (t.kind !== 'option') continue;
    const { name, rawName, value, inlineValue } = t;
    if (name === 'help') {
      out.help = true;
    } else if (name === 'config') {
      if (value === undefined || value === '') throw new UserError('--config needs a file path', { hint: 'pass --config ./cni-demo.json' });
      out.configFile = value;
    } else {
      const known = FIELD_BY_OPTION.get(name);
      if (!known) {
        const guess = rawName.startsWith('--') ? closest(name, FIELD_BY_OPTION.keys()) : undefined;
        throw new UserError(`unknown option ${rawName}`, {
          hint: guess ? `did you mean --${guess}? (--help lists them all)` : 'run with --help to list the options',
        });
      }
      const { field, negated } = known;
      if (negated && inlineValue) throw new UserError(`${rawName} takes no value`, { field });
      if (OPTIONS[name]?.type === 'string' && (value === undefined || value.startsWith('--'))) {
        throw new UserError(`${rawName} needs a value`, { field, hint: `pass ${rawName} <${schema[field].kind}>` });
      }
      out.fields.set(field, negated ? 'false' : (value ?? 'true'));
    }
  }
  return out;
}
