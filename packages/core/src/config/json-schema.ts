import { ID_MAX_LENGTH, IFNAME_MAX_BYTES, NETWORK_MAX_LENGTH } from '../name-rules.js';
import { CNI_NAME_RE, envName, FIELDS, flagName, type Kind, schema } from './schema.js';

/**
 * The config file's JSON Schema, generated from `schema` (the one declaration of every field), so an editor
 * completes and checks a config file with the same names, types and defaults the resolver uses. The checks
 * that need code (a gateway inside its subnet, a count that fits the subnets) stay with the resolver; the
 * schema carries what JSON Schema can say: types, choices, name patterns and lengths, bounds.
 */
function typeOf(kind: Kind): Record<string, unknown> {
  switch (kind) {
    case 'bool':
      return { type: 'boolean' };
    case 'int':
      return { type: 'integer' };
    case 'list':
      // a list is an array of strings, or one string with ":" between them (as on the command line)
      return { anyOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }] };
    default:
      return { type: 'string' };
  }
}

export function configJsonSchema(): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    $schema: { type: 'string', description: 'this schema, for editors; ignored by cni-demo' },
    '//': { description: 'a comment; ignored by cni-demo' },
  };
  for (const f of FIELDS) {
    const spec = schema[f];
    const p: Record<string, unknown> = {
      ...typeOf(spec.kind),
      description: `${spec.help}. Flag --${flagName(f)}, environment ${envName(f)}.`,
      default: spec.default,
      ...(spec.choices ? { enum: [...spec.choices] } : {}),
      ...(spec.min !== undefined ? { minimum: spec.min } : {}),
      ...(spec.max !== undefined ? { maximum: spec.max } : {}),
    };
    if (f === 'id' || f === 'network') p.pattern = CNI_NAME_RE.source;
    if (f === 'id') p.maxLength = ID_MAX_LENGTH;
    if (f === 'network') p.maxLength = NETWORK_MAX_LENGTH;
    if (f === 'bridge' || f === 'ifname') {
      p.pattern = CNI_NAME_RE.source;
      p.maxLength = IFNAME_MAX_BYTES;
    }
    properties[f] = p;
  }
  return {
    // draft-07: what editors (VS Code among them) understand best
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'cni-demo config file',
    description:
      'A JSON file given to cni-demo with --config (or CNI_DEMO_CONFIG). Every key is optional: what is not set keeps its default, and CNI_DEMO_* variables and flags override the file. Generated from packages/core/src/config/schema.ts.',
    type: 'object',
    additionalProperties: false,
    properties,
  };
}
