import { ensurePostgresTemplate } from './postgresServer.ts';

/** vitest globalSetup for the fault suite: the Postgres template is built before scenarios race for it. */
export default function setup(): void {
  ensurePostgresTemplate();
}
