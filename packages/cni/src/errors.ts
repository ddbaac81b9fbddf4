import type { Verb } from './types.js';

/** Well-known CNI error codes (SPEC.md "Error", libcni pkg/types). */
export const ErrorCode = {
  Unknown: 0,
  IncompatibleCNIVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironmentVariables: 4,
  IOFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  InvalidNetNS: 8,
  TryAgainLater: 11,
  Internal: 999,
} as const;

/**
 * A CNI failure: either a plugin's error object ({code,msg,details}) or a runtime-side rule broken before
 * any plugin ran (then `plugin` is undefined). stderr is kept: it is often the only clue.
 */
export class CniError extends Error {
  override name = 'CniError';
  readonly code: number;
  readonly msg: string;
  readonly details: string | undefined;
  readonly plugin: string | undefined;
  readonly verb: Verb | undefined;
  readonly stderr: string;
  constructor(opts: {
    code: number;
    msg: string;
    details?: string | undefined;
    plugin?: string | undefined;
    verb?: Verb | undefined;
    stderr?: string;
  }) {
    const where = opts.plugin ? `plugin type="${opts.plugin}"${opts.verb ? ` failed (${opts.verb.toLowerCase()})` : ''}: ` : '';
    const tail = opts.details ? `; ${opts.details}` : '';
    super(`${where}${opts.msg}${tail} (CNI error code ${opts.code})`);
    this.code = opts.code;
    this.msg = opts.msg;
    this.details = opts.details;
    this.plugin = opts.plugin;
    this.verb = opts.verb;
    this.stderr = opts.stderr ?? '';
  }
}

/** A problem in a configuration file: names the file and the field. */
export class ConfigError extends CniError {
  override name = 'ConfigError';
  readonly source: string;
  readonly field: string | undefined;
  constructor(source: string, field: string | undefined, msg: string) {
    super({ code: ErrorCode.InvalidNetworkConfig, msg: `${source}: ${field ? `"${field}": ` : ''}${msg}` });
    this.source = source;
    this.field = field;
  }
}

/** Several CNI failures reported together (validation of a whole list, GC that keeps going). */
export class CniErrors extends CniError {
  override name = 'CniErrors';
  readonly errors: CniError[];
  constructor(errors: CniError[], headline: string) {
    const first = errors[0];
    super({ code: first?.code ?? ErrorCode.Unknown, msg: `${headline}:\n${errors.map((e) => `  - ${e.message}`).join('\n')}` });
    this.errors = errors;
  }
}
