/*
 * Herald's service worker, for the bell page to serve (e.g. at /push-sw.js) and register with
 * `navigator.serviceWorker.register('/push-sw.js')`. Plain JavaScript: browsers load it as is.
 * The payload is what src/push/pushMessage.ts encodes: { title, body, url, eventId, notificationId?, tag }.
 */
/* eslint-env serviceworker */

self.addEventListener('push', (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    // A push that is not our JSON still has to show something: browsers penalise silent pushes.
    message = { title: 'Herald', body: event.data ? event.data.text() : '' };
  }
  const title = message.title || 'New notification';
  event.waitUntil(
    self.registration.showNotification(title, {
      body: message.body || '',
      // Same tag as an earlier push for the event: the newer one replaces it instead of stacking.
      tag: message.tag || undefined,
      data: { url: message.url || null, eventId: message.eventId, notificationId: message.notificationId },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || '/', self.location.origin).href;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      // Reuse a tab already showing the target rather than opening another.
      const open = windows.find((client) => client.url === target);
      if (open) return open.focus();
      return self.clients.openWindow(target);
    })(),
  );
});

// A new version of this script takes over at once, so a fix reaches open pages without a restart.
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
