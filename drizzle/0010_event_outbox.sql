CREATE TABLE "event_outbox" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"accepted_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "event_outbox_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
-- The events not routed yet move to the outbox before the column that said so goes.
INSERT INTO "event_outbox" ("tenant_id", "id", "accepted_at") SELECT "tenant_id", "id", "accepted_at" FROM "events" WHERE "routed_at" IS NULL;--> statement-breakpoint
DROP INDEX "events_unrouted_idx";--> statement-breakpoint
DROP INDEX "events_tenant_idx";--> statement-breakpoint
DROP INDEX "events_retention_idx";--> statement-breakpoint
ALTER TABLE "events" DROP CONSTRAINT "events_tenant_id_id_pk";--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_id_tenant_id_pk" PRIMARY KEY("id","tenant_id");--> statement-breakpoint
CREATE INDEX "event_outbox_accepted_idx" ON "event_outbox" USING btree ("accepted_at");--> statement-breakpoint
CREATE INDEX "events_accepted_idx" ON "events" USING btree ("accepted_at");--> statement-breakpoint
ALTER TABLE "events" DROP COLUMN "routed_at";