-- The retention sweep's indexes by age become BRIN: deliveries and events arrive in time order,
-- so a summary per range of pages finds the old rows, and an insert into the newest pages adds
-- nothing to it, where a B-tree took an insertion and its WAL for every row (see the comments on
-- events_accepted_idx and deliveries_retention_idx in src/db/schema.ts). Building a BRIN index
-- reads the table once and holds off writes to it meanwhile, as any migration's index does.
DROP INDEX "deliveries_retention_idx";--> statement-breakpoint
DROP INDEX "events_accepted_idx";--> statement-breakpoint
CREATE INDEX "deliveries_retention_idx" ON "deliveries" USING brin ("created_at");--> statement-breakpoint
CREATE INDEX "events_accepted_idx" ON "events" USING brin ("accepted_at");