import type { ZodError } from 'zod';

/** One line per problem, each naming the field and what was expected: "nodeId: expected string, received undefined". */
export function describeZodError(error: ZodError, root = 'payload'): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length ? issue.path.map(String).join('.') : root;
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}
