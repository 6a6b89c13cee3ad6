import addressparser from 'nodemailer/lib/addressparser/index.js';
import type { SendMailOptions } from 'nodemailer';
import { z } from 'zod';
import { oneLine, type EmailContent } from '../templates/content.ts';

export type EmailAddress = { name: string; address: string };

const addressSchema = z.email().max(320);

/** A valid address, or null. Names and addresses never reach a header unchecked. */
export function validAddress(raw: string): string | null {
  const parsed = addressSchema.safeParse(raw.trim());
  return parsed.success ? parsed.data : null;
}

/** Parses `Name <address>` or a bare address, as EMAIL_FROM may be written. */
export function parseMailbox(raw: string): EmailAddress | null {
  const [first] = addressparser(raw, { flatten: true });
  const address = first?.address ? validAddress(first.address) : null;
  return address ? { name: displayName(first?.name ?? ''), address } : null;
}

/** A display name safe for a header: one line, no quotes or angle brackets to confuse a parser. */
export function displayName(raw: string): string {
  return oneLine(raw).replace(/["<>\\]/g, '').slice(0, 100);
}

/** Message-ids are `<local@domain>`; event ids may hold any character, so they travel base64url-encoded. */
const eventRef = (eventId: string, domain: string) => `<herald.event.${Buffer.from(eventId).toString('base64url')}@${domain}>`;

export type ComposeInput = {
  from: EmailAddress;
  to: EmailAddress;
  replyTo: string | null;
  content: EmailContent;
  eventId: string;
  tenantId: string;
  /** The delivery id makes the Message-ID stable across retries, so a resent copy can be recognised as the same message. */
  deliveryId?: string;
  headers?: Record<string, string>;
};

/**
 * The message as nodemailer takes it. Every header value is collapsed to one line and every
 * address validated, so no event field, name or subject can add a header. The event id travels
 * in `X-Herald-Event-Id` and, encoded, in `References`, so replies and bounces (which quote
 * both) lead back to the event.
 */
export function composeEmail(input: ComposeInput): SendMailOptions {
  const domain = input.from.address.split('@')[1]!;
  const replyTo = input.replyTo ? validAddress(input.replyTo) : null;
  const headers: Record<string, string> = {
    'X-Herald-Event-Id': oneLine(input.eventId),
    ...(input.tenantId && { 'X-Herald-Tenant-Id': oneLine(input.tenantId) }),
    // RFC 3834: out-of-office robots should not answer a notification.
    'Auto-Submitted': 'auto-generated',
    ...(input.deliveryId && { 'X-Herald-Delivery-Id': input.deliveryId }),
  };
  for (const [name, value] of Object.entries(input.headers ?? {})) headers[name] = oneLine(value);
  return {
    from: { name: displayName(input.from.name), address: input.from.address },
    to: { name: displayName(input.to.name), address: input.to.address },
    ...(replyTo && { replyTo }),
    subject: oneLine(input.content.subject),
    html: input.content.html,
    text: input.content.text,
    ...(input.deliveryId && { messageId: `<herald.delivery.${input.deliveryId}@${domain}>` }),
    references: eventRef(input.eventId, domain),
    headers,
  };
}

