import { isIP } from 'node:net';
import { isForbiddenAddress } from './addressPolicy.ts';

/**
 * Which outbound URLs Herald may call. This is the save-time check (it sees literal hosts only);
 * the outbound HTTP client runs it again before every call and adds the connect-time check on
 * resolved addresses.
 */
export type UrlVerdict = { ok: true; url: URL } | { ok: false; reason: string };

export type UrlKind = 'webhook' | 'slack' | 'teams';

/** Hosts (`host` or `host:port`) from OUTBOUND_ALLOW_HOSTS: may use http and private addresses. Tests only. */
export type AllowHosts = readonly string[];

const SLACK_HOST = 'hooks.slack.com';

// Microsoft generates these URLs; none of the hosts can be chosen by a customer.
const TEAMS_HOST_PATTERNS = [
  // Office 365 connector incoming webhooks: https://<tenant>.webhook.office.com/webhookb2/…
  /^[a-z0-9-]+\.webhook\.office\.com$/,
  // Connector URLs from before the move to webhook.office.com: https://outlook.office.com/webhook/…
  /^outlook\.office\.com$/,
  // Power Automate / Logic Apps workflow triggers ("Workflows" app in Teams):
  // https://prod-NN.<region>.logic.azure.com:443/workflows/<id>/triggers/manual/paths/invoke?…
  /^prod-\d+\.[a-z0-9]+\.logic\.azure\.com$/,
  // Newer Power Automate workflow triggers, one host per environment (id prefix, then its last two
  // characters): https://<env>.<xx>.environment.api.powerplatform.com:443/powerautomate/automations/direct/…
  /^[a-z0-9]+\.[a-z0-9]{2}\.environment\.api\.powerplatform\.com$/,
];

// Names that only mean something on the local network, so they can only reach internal hosts.
const LOCAL_NAME_SUFFIXES = ['.localhost', '.local', '.internal', '.home.arpa', '.localdomain'];

const refuse = (reason: string): UrlVerdict => ({ ok: false, reason });

/** The URL's host without IPv6 brackets or a trailing root dot, lowercased. */
function bareHost(url: URL): string {
  return url.hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
}

function defaultPort(url: URL): string {
  return url.protocol === 'https:' ? '443' : '80';
}

/** True when the URL's host (or host:port) is listed in OUTBOUND_ALLOW_HOSTS. */
export function isAllowListed(url: URL, allowHosts: AllowHosts): boolean {
  if (allowHosts.length === 0) return false;
  const host = bareHost(url);
  const port = url.port || defaultPort(url);
  return allowHosts.some((entry) => entry === host || entry === `${host}:${port}`);
}

function checkWebhookHost(host: string): string | null {
  if (isIP(host) !== 0) {
    const reason = isForbiddenAddress(host);
    return reason ? `must not point at a ${reason}` : null;
  }
  // WHATWG parsing already turns 2130706433, 0x7f.1, 0177.0.0.1 and 127.1 into dotted IPv4, and
  // rejects other hosts ending in a number; this guards against a parser that does not.
  if (/^(0x[0-9a-f]*|\d+)$/.test(host.split('.').at(-1) ?? '')) {
    return 'must not be a numeric address';
  }
  if (host === 'localhost' || LOCAL_NAME_SUFFIXES.some((suffix) => host.endsWith(suffix))) {
    return 'must name a public host';
  }
  if (!host.includes('.')) return 'must name a public host (a fully qualified domain)';
  return null;
}

/**
 * Decides whether Herald may send to `raw` for the given channel kind. Called when a URL is
 * saved (a refusal is a 400) and again by the outbound client before every request.
 */
export function checkOutboundUrl(raw: string, kind: UrlKind, allowHosts: AllowHosts = []): UrlVerdict {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse('is not a valid URL');
  }
  // Userinfo is how `https://hooks.slack.com@evil.test/` passes a careless prefix check, and
  // no legitimate destination needs it.
  if (url.username || url.password) return refuse('must not carry credentials');
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return refuse('must use https');
  if (isAllowListed(url, allowHosts)) return { ok: true, url };
  if (url.protocol !== 'https:') return refuse('must use https');
  // Other ports would let a saved URL probe non-web services on an otherwise acceptable host.
  if (url.port !== '') return refuse('must use the default https port');

  const host = bareHost(url);
  if (kind === 'slack') {
    return url.hostname === SLACK_HOST ? { ok: true, url } : refuse(`must be an https://${SLACK_HOST}/ URL`);
  }
  if (kind === 'teams') {
    return TEAMS_HOST_PATTERNS.some((pattern) => pattern.test(url.hostname))
      ? { ok: true, url }
      : refuse('must be a Microsoft Teams or Power Automate webhook URL');
  }
  const hostProblem = checkWebhookHost(host);
  return hostProblem ? refuse(hostProblem) : { ok: true, url };
}
