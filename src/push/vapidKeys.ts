import { createECDH, ECDH } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// Type only: config.ts imports the key checks from here.
import type { Config } from '../config.ts';

/** The application server's identity towards push services (RFC 8292), as web-push takes it. */
export type VapidDetails = { publicKey: string; privateKey: string; subject: string };

/** What the push worker records and the key endpoint answers when no VAPID key pair is configured. */
export const PUSH_NOT_CONFIGURED =
  'Web Push is not configured on this server: set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT (generate a pair with `npx web-push generate-vapid-keys`)';

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/**
 * The bytes of a base64url string, or null when it is not one. Buffer.from alone would skip
 * characters it does not know, so a mangled key would decode to something of the wrong length
 * only by luck.
 */
export function base64UrlBytes(value: string): Buffer | null {
  return BASE64URL.test(value) ? Buffer.from(value.replace(/=+$/, ''), 'base64url') : null;
}

/** True for the 65-byte uncompressed form of a point on P-256, as browsers and VAPID encode public keys. */
export function isP256PublicKey(value: string): boolean {
  const bytes = base64UrlBytes(value);
  if (!bytes || bytes.length !== 65 || bytes[0] !== 0x04) return false;
  try {
    // Only a real point converts; encrypting to a point off the curve would fail at every send.
    ECDH.convertKey(bytes, 'prime256v1');
    return true;
  } catch {
    return false;
  }
}

export function isVapidPrivateKey(value: string): boolean {
  return base64UrlBytes(value)?.length === 32;
}

/** Push services reject a subject that is not a contact they can use: a mailto: address or an https: page. */
export function isVapidSubject(value: string): boolean {
  return /^mailto:[^\s@]+@[^\s@]+$/.test(value) || /^https:\/\/[^\s/]+/.test(value);
}

/** Why a configured pair cannot sign for itself, or null when it can. */
export function vapidPairProblem(publicKey: string, privateKey: string): string | null {
  const ecdh = createECDH('prime256v1');
  try {
    ecdh.setPrivateKey(base64UrlBytes(privateKey) ?? Buffer.alloc(0));
  } catch {
    return 'is not a valid P-256 private key';
  }
  // A mismatched pair passes every format check, then every push service refuses the signature.
  return ecdh.getPublicKey().equals(base64UrlBytes(publicKey) ?? Buffer.alloc(0)) ? null : 'does not belong to VAPID_PUBLIC_KEY';
}

/** A fresh key pair in the encoding browsers (applicationServerKey) and web-push expect. */
export function generateVapidKeys(): { publicKey: string; privateKey: string } {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    publicKey: ecdh.getPublicKey().toString('base64url'),
    // getPrivateKey drops leading zero bytes; VAPID wants exactly 32.
    privateKey: Buffer.from(ecdh.getPrivateKey('hex').padStart(64, '0'), 'hex').toString('base64url'),
  };
}

/** The demo's subject: push services want a contact, and the demo has no operator to name. */
const DEMO_SUBJECT = 'mailto:herald-demo@example.com';

/**
 * For `npm start`'s demo: the VAPID key pair kept in `<dataDir>/vapid.json`, generated on first
 * use. Kept rather than regenerated, because every browser subscription is bound to the public
 * key it was made with and would stop receiving pushes if the key changed on restart.
 */
export function ensureDemoVapidKeys(dataDir: string): VapidDetails {
  const file = join(dataDir, 'vapid.json');
  const stored = existsSync(file) ? readStoredKeys(file) : {};
  const { publicKey = '', privateKey = '', subject = DEMO_SUBJECT } = stored;
  if (isP256PublicKey(publicKey) && isVapidPrivateKey(privateKey) && vapidPairProblem(publicKey, privateKey) === null) {
    return { publicKey, privateKey, subject };
  }
  const keys = { ...generateVapidKeys(), subject: DEMO_SUBJECT };
  writeFileSync(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return keys;
}

// A damaged file only costs the demo's existing subscriptions; a new pair is better than not starting.
function readStoredKeys(file: string): Partial<VapidDetails> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Partial<VapidDetails>;
  } catch {
    return {};
  }
}

/** The configured VAPID identity, or null when push is not configured (config.ts admits all three or none). */
export function vapidDetailsOf(config: Pick<Config, 'VAPID_PUBLIC_KEY' | 'VAPID_PRIVATE_KEY' | 'VAPID_SUBJECT'>): VapidDetails | null {
  const { VAPID_PUBLIC_KEY: publicKey, VAPID_PRIVATE_KEY: privateKey, VAPID_SUBJECT: subject } = config;
  return publicKey && privateKey && subject ? { publicKey, privateKey, subject } : null;
}
