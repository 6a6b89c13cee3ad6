import type { Response } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { missingTenants, type Upserted } from '../../directory/directoryStore.ts';
import { HttpError } from '../../errors.ts';
import { checkOutboundUrl, type AllowHosts, type UrlKind } from '../../outbound/urlPolicy.ts';

/** PUT creates or replaces: 201 for a new resource, 200 for a replaced one, the stored object as `present` shows it either way. */
export function sendUpserted<Row>(res: Response, { row, created }: Upserted<Row>, present: (row: Row) => object): void {
  res.status(created ? 201 : 200).json(present(row));
}

/** 422 unknown_tenant unless every tenant exists (SPEC §2 names the same code for events). */
export async function assertTenantsExist(db: Db, tenantIds: string[]): Promise<void> {
  const missing = await missingTenants(db, tenantIds);
  if (missing.length > 0) throw new HttpError(422, 'unknown_tenant', `unknown tenant ${missing.join(', ')}`);
}

// The policy runs in code, which the API document cannot see; this says what it accepts.
const ACCEPTED_URLS: Record<UrlKind, string> = {
  slack: 'a Slack incoming-webhook URL (https://hooks.slack.com/…)',
  teams: 'a Microsoft Teams or Power Automate webhook URL (*.webhook.office.com, *.logic.azure.com, *.environment.api.powerplatform.com)',
  webhook: 'an https URL whose host does not resolve to a loopback, private, link-local or metadata address',
};

/** A zod field for an outbound URL, refused when saved with the same policy the sender applies. */
export function outboundUrlField(kind: UrlKind, allowHosts: AllowHosts) {
  return z
    .string()
    .max(2048)
    .superRefine((value, ctx) => {
      const verdict = checkOutboundUrl(value, kind, allowHosts);
      if (!verdict.ok) ctx.addIssue({ code: 'custom', message: verdict.reason });
    })
    .meta({ format: 'uri', description: ACCEPTED_URLS[kind] });
}
