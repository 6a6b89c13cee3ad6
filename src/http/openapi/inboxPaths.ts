import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { archiveBody, notificationIdSchema, notificationListFields, seenBody } from '../routes/notifications.ts';
import { myChatBody } from '../routes/chatSettings.ts';
import { pushSubscriptionSchema, pushUnsubscribeBody } from '../routes/push.ts';
import { CROSS_SITE_COOKIE, DOCUMENTED_ALLOW_HOSTS, PUBLIC, USER, errors, idParam, json, jsonBody } from './common.ts';
import { notificationPageView, preferencesMatrix as preferences, summaryView, updatedView } from './responses.ts';

/** SPEC §5: the signed-in user's inbox, preferences and Web Push devices. */
export function registerInboxPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/api/v1/notifications',
    operationId: 'listNotifications',
    tags: ['inbox'],
    summary: 'A page of the inbox, newest first',
    description: 'Stable under concurrent inserts: no row repeats or is skipped when new ones arrive between pages.',
    security: USER,
    request: { query: notificationListFields },
    responses: { 200: json('A page of notifications.', notificationPageView), ...errors([400, 401]) },
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/notifications/summary',
    operationId: 'summarizeNotifications',
    tags: ['inbox'],
    summary: 'Total, unread and unseen counts (archived notifications left out)',
    security: USER,
    responses: { 200: json('The counts.', summaryView), ...errors([401]) },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/notifications/{id}/read',
    operationId: 'markNotificationRead',
    tags: ['inbox'],
    summary: 'Mark one notification read',
    security: USER,
    request: { params: idParam(notificationIdSchema, 'a notification id') },
    responses: { 204: { description: 'Read (also when it already was).' }, ...errors([401, 403, 404], { ...CROSS_SITE_COOKIE, 404: 'No such notification in this user’s inbox.' }) },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/notifications/read-all',
    operationId: 'markAllNotificationsRead',
    tags: ['inbox'],
    summary: 'Mark every notification read (and so seen)',
    security: USER,
    responses: { 200: json('How many were unread.', updatedView), ...errors([401, 403], CROSS_SITE_COOKIE) },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/notifications/seen',
    operationId: 'markNotificationsSeen',
    tags: ['inbox'],
    summary: 'Mark notifications seen: these ids, or every one',
    description: 'Ids that are not the caller’s are ignored and not counted. Every open stream of the user gets a `notifications.seen` frame and new counts.',
    security: USER,
    request: { body: jsonBody(seenBody) },
    responses: { 200: json('How many were unseen.', updatedView), ...errors([400, 401, 403], CROSS_SITE_COOKIE) },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/notifications/{id}/archive',
    operationId: 'archiveNotification',
    tags: ['inbox'],
    summary: 'Archive one notification: it leaves the default list and every count',
    security: USER,
    request: { params: idParam(notificationIdSchema, 'a notification id') },
    responses: { 204: { description: 'Archived (also when it already was).' }, ...errors([401, 403, 404], { ...CROSS_SITE_COOKIE, 404: 'No such notification in this user’s inbox.' }) },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/notifications/archive',
    operationId: 'archiveNotifications',
    tags: ['inbox'],
    summary: 'Archive notifications: these ids, every read one, or every one',
    description: 'Ids that are not the caller’s are ignored and not counted. Every open stream of the user gets a `notification.archived` frame and new counts.',
    security: USER,
    request: { body: jsonBody(archiveBody) },
    responses: { 200: json('How many were archived.', updatedView), ...errors([400, 401, 403], CROSS_SITE_COOKIE) },
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/me/preferences',
    operationId: 'getPreferences',
    tags: ['inbox'],
    summary: 'The user’s preference matrix',
    security: USER,
    responses: { 200: json('The stored matrix.', preferences), ...errors([401, 404], { 404: 'The token’s user is not in the directory.' }) },
  });

  for (const [method, summary, operationId] of [
    ['put', 'Replace the preference matrix', 'replacePreferences'],
    ['patch', 'Merge keys into the preference matrix', 'updatePreferences'],
  ] as const) {
    registry.registerPath({
      method,
      path: '/api/v1/me/preferences',
      operationId,
      tags: ['inbox'],
      summary,
      security: USER,
      request: { body: jsonBody(preferences) },
      responses: {
        200: json('The stored matrix.', preferences),
        ...errors([400, 401, 403, 404], {
          ...CROSS_SITE_COOKIE,
          400: 'Invalid input (code `invalid_request`), or a merge that would leave more than 1,000 keys stored (field `(body)`; nothing is changed).',
          404: 'The token’s user is not in the directory.',
        }),
      },
    });
  }

  const chatSettings = z
    .object({ slackWebhookUrl: z.string().nullable(), teamsWebhookUrl: z.string().nullable() })
    .meta({ id: 'ChatSettings', description: 'The user’s personal chat destinations; null when unset.' });
  registry.registerPath({
    method: 'get',
    path: '/api/v1/me/chat',
    operationId: 'getChatSettings',
    tags: ['inbox'],
    summary: 'The user’s personal Slack and Teams webhook URLs',
    security: USER,
    responses: { 200: json('The stored URLs.', chatSettings), ...errors([401, 404], { 404: 'The token’s user is not in the directory.' }) },
  });
  registry.registerPath({
    method: 'put',
    path: '/api/v1/me/chat',
    operationId: 'replaceChatSettings',
    tags: ['inbox'],
    summary: 'Replace the user’s personal Slack and Teams webhook URLs',
    description: 'A URL left out or null is removed. Each URL passes the same outbound check the chat worker applies before sending.',
    security: USER,
    request: { body: jsonBody(myChatBody(DOCUMENTED_ALLOW_HOSTS)) },
    responses: { 200: json('The stored URLs.', chatSettings), ...errors([400, 401, 403, 404], { ...CROSS_SITE_COOKIE, 404: 'The token’s user is not in the directory.' }) },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/me/push-subscriptions',
    operationId: 'addPushSubscription',
    tags: ['inbox'],
    summary: 'Register a Web Push subscription',
    description:
      'The body is the browser’s `PushSubscription.toJSON()`. The endpoint passes the same outbound URL check as a webhook URL. A user keeps at most 20 subscriptions: registering a 21st removes their oldest.',
    security: USER,
    request: { body: jsonBody(pushSubscriptionSchema(DOCUMENTED_ALLOW_HOSTS)) },
    responses: {
      201: json('Registered.', z.object({ endpoint: z.string() })),
      200: json('Already registered; keys updated.', z.object({ endpoint: z.string() })),
      ...errors([400, 401, 403], CROSS_SITE_COOKIE),
    },
  });

  registry.registerPath({
    method: 'delete',
    path: '/api/v1/me/push-subscriptions',
    operationId: 'removePushSubscription',
    tags: ['inbox'],
    summary: 'Remove a Web Push subscription',
    security: USER,
    request: { body: jsonBody(pushUnsubscribeBody) },
    responses: { 204: { description: 'Removed.' }, ...errors([400, 401, 403, 404], CROSS_SITE_COOKIE) },
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/push/vapid-public-key',
    operationId: 'getVapidPublicKey',
    tags: ['inbox'],
    summary: 'The VAPID public key browsers subscribe with',
    security: PUBLIC,
    responses: {
      200: json('The key (base64url).', z.object({ publicKey: z.string() })),
      ...errors([503], { 503: 'Web Push is not configured on this deployment (code `push_not_configured`).' }),
    },
  });
}
