/**
 * The payload converter of every worker and of the workflow bundle: Temporal's default, except
 * that a payload it cannot decode (bytes that are not JSON, an unknown encoding) becomes an
 * `UndecodablePayload` marker (src/contracts/undecodable.ts) instead of an exception. Decoding happens before any handler runs,
 * so with the default converter one such signal from a foreign client failed the workflow task on
 * every retry and wedged the agent for good; now the agent base rejects the marker like any other
 * bad payload (counted for a signal, refused to the caller for an update).
 *
 * Encoding is unchanged, so clients (our CLI, or anyone's) need nothing special.
 */
import { DefaultPayloadConverter, type Payload, type PayloadConverter } from '@temporalio/common';
import type { UndecodablePayload } from '../contracts/undecodable';

class LenientPayloadConverter implements PayloadConverter {
  private readonly inner = new DefaultPayloadConverter();

  toPayload<T>(value: T): Payload {
    return this.inner.toPayload(value);
  }

  fromPayload<T>(payload: Payload): T {
    try {
      return this.inner.fromPayload<T>(payload);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const marker: UndecodablePayload = { undecodablePayload: why.slice(0, 200) };
      return marker as T;
    }
  }
}

export const payloadConverter: PayloadConverter = new LenientPayloadConverter();
