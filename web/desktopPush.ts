import { savePushSubscription, vapidPublicKey } from './api.ts';

export type PushState = 'unavailable' | 'available' | 'enabled' | 'blocked';

export function pushSupported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/**
 * Whether this browser can get desktop notifications from this server: the browser must
 * support Web Push and the server must have a VAPID key (the key endpoint answers 404 or 503
 * when push is off). An existing subscription is saved again for the signed-in user, so the
 * server's record follows the browser after a sign-in as someone else.
 */
export async function detectPush(): Promise<{ state: PushState; publicKey: string | null }> {
  if (!pushSupported()) return { state: 'unavailable', publicKey: null };
  const publicKey = await vapidPublicKey();
  if (!publicKey) return { state: 'unavailable', publicKey: null };
  if (Notification.permission === 'denied') return { state: 'blocked', publicKey };
  const registration = await navigator.serviceWorker.getRegistration('/');
  const existing = await registration?.pushManager.getSubscription();
  if (existing && Notification.permission === 'granted') {
    try {
      await savePushSubscription(existing.toJSON());
      return { state: 'enabled', publicKey };
    } catch {
      // Could not re-save: offer the button, which subscribes and saves again.
    }
  }
  return { state: 'available', publicKey };
}

/** Asks for permission, registers /sw.js, subscribes with the server's key and saves the subscription. */
export async function enablePush(publicKey: string): Promise<PushState> {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return permission === 'denied' ? 'blocked' : 'available';
  await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  const registration = await navigator.serviceWorker.ready;
  const subscription =
    (await registration.pushManager.getSubscription()) ??
    (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlBytes(publicKey) }));
  await savePushSubscription(subscription.toJSON());
  return 'enabled';
}

function base64UrlBytes(value: string): Uint8Array<ArrayBuffer> {
  const base64 = value.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(value.length / 4) * 4, '=');
  const binary = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
