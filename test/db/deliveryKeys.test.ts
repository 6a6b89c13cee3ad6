import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { databaseBefore } from '../helpers/olderSchema.ts';

/**
 * `0012_delivery_keys_v7`: new deliveries take RFC 9562 version 7 keys (milliseconds first), so
 * their primary key grows at its right edge; deliveries stored before keep theirs.
 */

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** The Unix milliseconds a version 7 key begins with. */
const millisOf = (key: string) => Number.parseInt(key.replaceAll('-', '').slice(0, 12), 16);

let db: Db;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ db, drop } = await databaseBefore('0012_delivery_keys_v7'));
});

afterAll(async () => {
  await drop?.();
});

const storeDelivery = async (eventId: string) =>
  (await db.$client<{ id: string }[]>`
    insert into deliveries (event_id, tenant_id, channel, destination, user_id) values (${eventId}, 'acme', 'inapp', 'ana', 'ana') returning id::text`)[0]!.id;

it('gives deliveries stored after the upgrade version 7 keys and leaves the earlier ones theirs', async () => {
  const earlier = await storeDelivery('evt_before');
  expect(earlier).toMatch(UUID_V4);

  await runMigrations(db);

  const before = Date.now();
  const later = await storeDelivery('evt_after');
  const after = Date.now();
  expect(later).toMatch(UUID_V7);
  expect(millisOf(later)).toBeGreaterThanOrEqual(before - 1_000);
  expect(millisOf(later)).toBeLessThanOrEqual(after + 1_000);
  expect((await db.$client`select id::text from deliveries where event_id = 'evt_before'`)[0]!.id).toBe(earlier);
});

it('makes distinct keys whose time never goes back within a statement, as one routing write makes them', async () => {
  const rows = await db.$client<{ key: string }[]>`select herald_uuidv7()::text as key from generate_series(1, 5000) order by generate_series`;
  const keys = rows.map((row) => row.key);
  expect(new Set(keys).size).toBe(keys.length);
  for (const key of keys) expect(key).toMatch(UUID_V7);
  const millis = keys.map(millisOf);
  expect(millis.every((ms, i) => i === 0 || ms >= millis[i - 1]!)).toBe(true);
});
