import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { eventEnvelopeSchema } from '../../intake/eventEnvelope.ts';
import { batchBody } from '../routes/events.ts';
import { errors, json, jsonBody, SERVICE_KEY, USER } from './common.ts';
import { batchResultView, publishView } from './responses.ts';

const ENVELOPE_REF = '#/components/schemas/EventEnvelope';

const eventEnvelope = eventEnvelopeSchema.meta({
  id: 'EventEnvelope',
  description: 'One event, the same on HTTP and on the bus. Recipients: assigneeUserIds ∪ recipientUserIds minus actorId; approval events route by role.',
  example: {
    id: 'evt_123',
    type: 'finding_created',
    tenantId: 'acme',
    severity: 'high',
    actorId: 'u9',
    assigneeUserIds: ['u1', 'u2'],
    assigneeTeamIds: ['t1'],
    data: { title: 'SQL injection in /login', url: 'https://app.example/findings/42' },
    occurredAt: '2026-11-23T10:00:00Z',
  },
});

// The route keeps items unknown so each event is judged on its own; the document says what each must be.
const documentedBatchBody = batchBody.extend({ events: batchBody.shape.events.meta({ items: { $ref: ENVELOPE_REF } }) });

const STREAM_FRAMES = [
  'Server-Sent Events; each frame is `id`, `event` (its type) and `data` (JSON). Types and their data:',
  '`notification` (a new inbox row: a Notification), `notification.read` (`{id}`), `notifications.read_all` (`{updated}`),',
  '`notifications.seen` (`{ids}`), `notification.archived` (`{ids}`), `unread_count` (`{unread, unseen}`, sent when the stream opens — after any replayed notifications — and whenever a count changes),',
  'and `event` (a published event of a tenant the user may access: `{id, type, tenantId, severity, occurredAt, data}`, without its recipients).',
  'Every frame has an `id`; reconnect with `Last-Event-ID` set to the last one seen, of any type, to get exactly the notification frames missed.',
  'A comment heartbeat goes out at least every 20 s; a 17th stream of a user closes the oldest, which gets `retry: 60000`. See docs/inbox-and-stream.md.',
].join(' ');

/** SPEC §2 and §6: publishing events, and the live stream. */
export function registerPublishingPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'post',
    path: '/api/v1/events',
    operationId: 'publishEvent',
    tags: ['publishing'],
    summary: 'Publish an event',
    description: '`id` is the idempotency key (generated when absent). 202 only once the event is durably stored.',
    security: SERVICE_KEY,
    request: { body: jsonBody(eventEnvelope) },
    responses: {
      202: json('Accepted: stored, and will be routed.', publishView),
      200: json('Duplicate: an event with this id was already published; nothing new fans out.', publishView),
      ...errors([400, 401, 403, 413, 422, 429, 503]),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/events/batch',
    operationId: 'publishEvents',
    tags: ['publishing'],
    summary: 'Publish up to 1000 events',
    description: 'Results come in input order. A rejected event names its field; the others are still accepted.',
    security: SERVICE_KEY,
    request: { body: jsonBody(documentedBatchBody) },
    responses: {
      200: json('One result per event, in input order.', batchResultView),
      ...errors([400, 401, 403, 413, 429, 503], { 400: 'The list is empty, too long or not a list; nothing was stored.' }),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/events',
    operationId: 'openStream',
    tags: ['inbox'],
    summary: 'The live stream of the signed-in user',
    security: USER,
    request: {
      headers: z.object({
        'Last-Event-ID': z.string().optional().meta({ description: 'the id of the last frame seen, of any type: the stream resumes after it' }),
      }),
    },
    responses: {
      200: { description: STREAM_FRAMES, content: { 'text/event-stream': { schema: z.string() } } },
      ...errors([401]),
    },
  });
}
