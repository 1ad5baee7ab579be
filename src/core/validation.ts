import type { ZodError, ZodType } from 'zod';

/** One line per problem, each naming the field and what was expected: "nodeId: expected string, received undefined". */
export function describeZodError(error: ZodError, root = 'payload'): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length ? issue.path.map(String).join('.') : root;
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * Config fields that existed once and were removed because nothing read them: naming one gets this
 * answer instead of being ignored (carried configs of older runs still hold them; those are dropped
 * silently by the schema, which strips unknown keys).
 */
export const REMOVED_CONFIG_FIELDS: Record<string, string> = {
  failureDetectionTimeoutMs:
    'no longer a setting: nothing read it; a host is declared dead by its lease (NodeAgent lease.timeoutMs) and the FailureDetector (acceptablePauseMs, suspicionMaxMs)',
  consensusTimeoutMs: 'a setting of the consensus-coordinator only (its rounds\' default timeout)',
};

interface Def {
  type?: string;
  shape?: Record<string, ZodType>;
  innerType?: ZodType;
  in?: ZodType;
}

/** The object shape under defaults, optionals and pipes, or undefined when `t` is not an object. */
function shapeOf(t: ZodType): Record<string, ZodType> | undefined {
  let cur: ZodType | undefined = t;
  for (let i = 0; i < 10 && cur; i++) {
    const def: Def | undefined = (cur as unknown as { _zod?: { def?: Def } })._zod?.def;
    if (!def) return undefined;
    if (def.type === 'object') return def.shape;
    cur = def.innerType ?? def.in;
  }
  return undefined;
}

/**
 * Fields of `value` that `schema` does not know, with their path ("thresholds.cpuu"), each with why:
 * a typo in a config patch must not be accepted and then ignored. Records (maps) are not descended.
 */
export function unknownFields(schema: ZodType, value: unknown, root = 'config'): string[] {
  const out: string[] = [];
  const walk = (t: ZodType, v: unknown, path: string) => {
    const shape = shapeOf(t);
    if (!shape || v === null || typeof v !== 'object' || Array.isArray(v)) return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const field = shape[k];
      const at = `${path}.${k}`;
      if (field) walk(field, x, at);
      else if (path === root && REMOVED_CONFIG_FIELDS[k]) out.push(`${at}: ${REMOVED_CONFIG_FIELDS[k]}`);
      else out.push(`${at}: unknown field (expected one of ${Object.keys(shape).join(', ')})`);
    }
  };
  walk(schema, value, root);
  return out;
}
