import { completeEnvelope, eventEnvelopeSchema, type EventEnvelopeInput } from '../../src/intake/eventEnvelope.ts';

/** A stored event as chat formatting sees it: a high finding of tenant acme, with whatever the test changes. */
export function sampleEvent(input: Partial<EventEnvelopeInput> = {}) {
  return completeEnvelope(
    eventEnvelopeSchema.parse({ id: 'evt_1', type: 'finding_created', tenantId: 'acme', severity: 'high', occurredAt: '2026-11-23T10:00:00Z', ...input }),
  );
}
