CREATE TABLE "inbox_counts" (
	"user_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"unread" integer NOT NULL,
	"version" bigint NOT NULL,
	CONSTRAINT "inbox_counts_user_id_tenant_id_pk" PRIMARY KEY("user_id","tenant_id")
);
--> statement-breakpoint
CREATE TABLE "inbox_heads" (
	"user_id" text PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "seq" bigint;--> statement-breakpoint
-- Existing rows keep their id as their cursor: ids grew with time, so each user's order is kept,
-- and a Last-Event-ID or page cursor a client holds from before stays meaningful.
UPDATE "notifications" SET "seq" = "id";--> statement-breakpoint
ALTER TABLE "notifications" ALTER COLUMN "seq" SET NOT NULL;--> statement-breakpoint
INSERT INTO "inbox_heads" ("user_id", "seq") SELECT "user_id", max("seq") FROM "notifications" GROUP BY "user_id";--> statement-breakpoint
INSERT INTO "inbox_counts" ("user_id", "tenant_id", "unread", "version")
  SELECT "user_id", "tenant_id", count(*) FILTER (WHERE "read_at" IS NULL), 1 FROM "notifications" GROUP BY "user_id", "tenant_id";--> statement-breakpoint
DROP INDEX "notifications_user_id_idx";--> statement-breakpoint
CREATE UNIQUE INDEX "notifications_user_seq_uq" ON "notifications" USING btree ("user_id","seq");
