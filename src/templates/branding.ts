import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { tenants, type Branding } from '../db/schema.ts';

const hexColor = z.string().regex(/^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/, 'must be a hex colour like #1f6feb or #fff');
// A control character in a one-line field could break a header or a layout; none is ever needed there.
// The ranges are exactly \p{Cc}, spelt without the `u` flag so the API document can carry the pattern as is.
const oneLine = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .regex(/^[^\x00-\x1f\x7f-\x9f]*$/, 'must be one line without control characters');

/**
 * A tenant's branding (SPEC §7). PUT replaces it whole; an absent or null field is cleared.
 * Unknown fields are refused, so a misspelt `primaryColour` is a 400 rather than silently ignored.
 */
export const brandingSchema = z
  .strictObject({
    logoUrl: z.url({ protocol: /^https$/, error: 'must be an https URL' }).max(2048).nullish(),
    primaryColor: hexColor.nullish(),
    secondaryColor: hexColor.nullish(),
    companyName: oneLine(200).nullish(),
    footerText: z.string().trim().max(2000).nullish(),
    replyTo: z.email().max(320).nullish(),
  })
  .transform((input): Branding => Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null && v !== undefined && v !== '')));

/** What templates see as `brand.*`: every field present, with Herald's defaults where the tenant set none. */
export type BrandContext = {
  companyName: string;
  logoUrl: string;
  primaryColor: string;
  secondaryColor: string;
  footerText: string;
  replyTo: string;
};

export type LoadedBrand = { brand: BrandContext; replyTo: string | null };

const DEFAULT_PRIMARY = '#1f6feb';
const DEFAULT_SECONDARY = '#57606a';

export function brandContext(tenantName: string | null, branding: Branding): LoadedBrand {
  return {
    brand: {
      companyName: branding.companyName ?? tenantName ?? 'Herald',
      logoUrl: branding.logoUrl ?? '',
      primaryColor: branding.primaryColor ?? DEFAULT_PRIMARY,
      secondaryColor: branding.secondaryColor ?? DEFAULT_SECONDARY,
      footerText: branding.footerText ?? '',
      replyTo: branding.replyTo ?? '',
    },
    replyTo: branding.replyTo ?? null,
  };
}

/** The brand of a tenant (null: no tenant, as for a global template's test-send). A missing tenant gets the defaults. */
export async function loadBrand(db: Db, tenantId: string | null): Promise<LoadedBrand> {
  if (tenantId === null) return brandContext(null, {});
  const [row] = await db.select({ name: tenants.name, branding: tenants.branding }).from(tenants).where(eq(tenants.id, tenantId));
  return brandContext(row?.name ?? null, row?.branding ?? {});
}
