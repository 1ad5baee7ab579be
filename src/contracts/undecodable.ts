/**
 * What a payload that no converter can decode turns into (src/converter/payload-converter.ts): a
 * marker the agent base rejects like any other bad payload, instead of an exception that would
 * fail the workflow task on every retry.
 */
export interface UndecodablePayload {
  undecodablePayload: string;
}

export function isUndecodable(value: unknown): value is UndecodablePayload {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<string, unknown>).undecodablePayload === 'string' &&
    Object.keys(value).length === 1
  );
}
