import { and, eq, gt, inArray, sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDb, createDb, type Db } from '../../src/db/client.ts';
import { deliveries, notifications, users } from '../../src/db/schema.ts';
import { cacheStatementText } from '../../src/db/statementText.ts';
import { directoryStatement } from '../../src/routing/directory.ts';
import { earlierPendingDeliveries, routedMarkStatement } from '../../src/routing/routeEvents.ts';
import { digestDueStatement } from '../../src/scheduling/digestWindows.ts';
import { storeEventsStatement } from '../../src/intake/storeEvents.ts';
import { receiptUpdate } from '../../src/realtime/inappReceipts.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/** Drizzle's own build, and one through the cache (each statement must come out of both the same), with how often the cache let drizzle build. */
function dialects() {
  const plain = new PgDialect();
  const cached = new PgDialect();
  const drizzleBuild = cached.sqlToQuery.bind(cached);
  const builds = { count: 0 };
  cached.sqlToQuery = (...args) => {
    builds.count++;
    return drizzleBuild(...args);
  };
  cacheStatementText(cached);
  return { plain, cached, builds };
}

const envelope = (id: string, tenantId: string) => ({
  id,
  tenantId,
  type: 'finding_created',
  severity: 'high' as const,
  occurredAt: '2026-12-07T00:00:00.000Z',
  assigneeUserIds: ['u1'],
  assigneeTeamIds: [],
  data: { title: id },
});

/** Pairs of statements of one shape with different values, as the code builds them. */
const sameShapePairs: [string, () => SQL, () => SQL][] = [
  ['the intake INSERT', () => storeEventsStatement([envelope('e1', 'acme')] as never), () => storeEventsStatement([envelope('e2', 'globex'), envelope('e3', 'acme')] as never)],
  ['the routed mark', () => routedMarkStatement([{ tenantId: 'acme', id: 'e1' }]), () => routedMarkStatement([{ tenantId: 'globex', id: 'e9' }, { tenantId: 'acme', id: 'e2' }])],
  ['the receipts UPDATE', () => receiptUpdate([{ tenantId: 'acme', eventId: 'e1', userId: 'u1' }]), () => receiptUpdate([{ tenantId: 'b', eventId: 'e2', userId: 'u2' }])],
  [
    'the directory read',
    () => directoryStatement({ userIds: ['u1'], teamIds: [], roleHolders: [], tenantIds: ['acme'] } as never),
    () => directoryStatement({ userIds: ['u2', 'u3'], teamIds: ['t1'], roleHolders: ['{"acme":["admin"]}'], tenantIds: ['acme', 'b'] } as never),
  ],
  ['earlier pending deliveries', () => earlierPendingDeliveries(['acme'], ['e1']), () => earlierPendingDeliveries(['b', 'c'], ['e2', 'e3'])],
  [
    'a digest moved to its closing time',
    () => digestDueStatement({ id: '018f0000-0000-7000-8000-000000000001', carrierId: '018f0000-0000-7000-8000-000000000002' } as never, new Date('2026-12-07T10:00:00Z')),
    () => digestDueStatement({ id: '018f0000-0000-7000-8000-000000000003', carrierId: '018f0000-0000-7000-8000-000000000004' } as never, new Date('2026-12-08T11:00:00Z')),
  ],
  [
    "a query builder's columns, tables and a date the column encodes",
    () => sql`select ${notifications.id} from ${notifications} where ${and(eq(notifications.userId, 'u1'), gt(notifications.createdAt, new Date('2026-01-01T00:00:00Z')))}`,
    () => sql`select ${notifications.id} from ${notifications} where ${and(eq(notifications.userId, 'u2'), gt(notifications.createdAt, new Date('2026-02-01T00:00:00Z')))}`,
  ],
  [
    'nested fragments, one left empty, an identifier, a null and an undefined value',
    () => sql`select ${sql.identifier('id')} from t where a = ${null} ${sql``} and b = ${sql`${1} + ${sql.param([1, 2])}::int[]`}${undefined}`,
    () => sql`select ${sql.identifier('id')} from t where a = ${'x'} ${sql``} and b = ${sql`${2} + ${sql.param([3])}::int[]`}${undefined}`,
  ],
];

describe('statement text built once per shape', () => {
  it.each(sameShapePairs)('%s: the text and parameters drizzle builds, though drizzle built only the first statement of the shape', (_name, first, second) => {
    const { plain, cached, builds } = dialects();
    for (const build of [first, second, first]) {
      expect(cached.sqlToQuery(build())).toEqual(plain.sqlToQuery(build()));
    }
    expect(builds.count).toBe(1);
  });

  it('a query the builder makes (drizzle names its fields, nests its own fragments) comes out as drizzle builds it, every time', () => {
    const { plain, cached, builds } = dialects();
    const db = createDb('postgres://unused@127.0.0.1:1/none');
    const select = (id: string) => db.select({ id: users.id, name: users.name }).from(users).where(eq(users.id, id)).limit(5).getSQL();
    for (const id of ['a', 'b', 'c']) expect(cached.sqlToQuery(select(id))).toEqual(plain.sqlToQuery(select(id)));
    expect(builds.count).toBe(1);
    const update = (id: string) => db.update(deliveries).set({ state: 'sent', attempts: 2 }).where(eq(deliveries.id, id)).getSQL();
    for (const id of ['018f0000-0000-7000-8000-000000000001', '018f0000-0000-7000-8000-000000000002']) {
      expect(cached.sqlToQuery(update(id))).toEqual(plain.sqlToQuery(update(id)));
    }
  });

  it('what the cache does not know is drizzle’s to build, every time: spelled-out lists of any length, inlined values, placeholders, aliases', () => {
    const { plain, cached, builds } = dialects();
    const statements = [
      sql`select 1 where ${inArray(users.id, ['a'])}`,
      sql`select 1 where ${inArray(users.id, ['a', 'b', 'c'])}`,
      sql`select ${1}, ${'x'}`.inlineParams(),
      sql`select ${2}, ${'y'}`.inlineParams(),
      sql`select ${sql.placeholder('p')}`,
      sql`select ${sql`${users.id}`.as('aliased')}`,
    ];
    for (const statement of [...statements, ...statements]) expect(cached.sqlToQuery(statement)).toEqual(plain.sqlToQuery(statement));
    expect(builds.count).toBe(statements.length * 2);
  });

  it('raw text is part of the shape: two texts are two shapes, each built once', () => {
    const { plain, cached, builds } = dialects();
    const named = (alias: string, id: string) => sql`select ${users.id} as ${sql.raw(alias)} from ${users} where ${users.id} = ${id}`;
    for (const [alias, id] of [['"one"', 'a'], ['"two"', 'b'], ['"one"', 'c'], ['"two"', 'd']] as const) {
      expect(cached.sqlToQuery(named(alias, id))).toEqual(plain.sqlToQuery(named(alias, id)));
    }
    expect(builds.count).toBe(2);
  });

  it('lays no new shape once full of shapes that never come back, and keeps building right', () => {
    const { plain, cached, builds } = dialects();
    for (let i = 0; i < 30_000; i++) cached.sqlToQuery(sql`select ${sql.raw(String(i))}, ${i}`);
    const after = (n: number) => sql`select ${users.name} from ${users} where ${users.id} = ${`u${n}`} and ${sql.raw('true')}`;
    builds.count = 0;
    for (const n of [1, 2, 3]) expect(cached.sqlToQuery(after(n))).toEqual(plain.sqlToQuery(after(n)));
    expect(builds.count).toBe(3);
  });
});

describe('statements through the database', () => {
  let env: TestEnv;
  let db: Db;
  beforeAll(async () => {
    env = await createTestEnv();
    db = createDb(env.config.DATABASE_URL, { max: 1 });
  });
  afterAll(async () => {
    await closeDb(db);
    await env?.cleanup();
  });

  it('a shape run again with other values reads with those values', async () => {
    const read = (a: number, b: string) => db.execute<{ sum: number; text: string }>(sql`select ${a}::int + 1 as sum, ${sql`${b}::text || '!'`} as text`);
    expect([...(await read(1, 'a'))]).toEqual([{ sum: 2, text: 'a!' }]);
    expect([...(await read(41, 'b'))]).toEqual([{ sum: 42, text: 'b!' }]);
    expect([...(await read(-3, 'c'))]).toEqual([{ sum: -2, text: 'c!' }]);
  });
});
