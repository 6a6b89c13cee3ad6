CREATE TABLE "digests" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" text NOT NULL,
	"rule_id" uuid NOT NULL,
	"channel" text NOT NULL,
	"destination" text NOT NULL,
	"key_value" text NOT NULL,
	"state" text DEFAULT 'open' NOT NULL,
	"count" integer NOT NULL,
	"max_items" integer NOT NULL,
	"opened_at" timestamp with time zone DEFAULT now() NOT NULL,
	"closes_at" timestamp with time zone NOT NULL,
	"carrier_id" uuid NOT NULL
);
--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "not_before" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "fallback_unless" text;--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "digest_id" uuid;--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "carried_by" uuid;--> statement-breakpoint
CREATE UNIQUE INDEX "digests_open_uq" ON "digests" USING btree ("rule_id","channel","destination","key_value") WHERE "digests"."state" = 'open';--> statement-breakpoint
CREATE INDEX "deliveries_scheduled_idx" ON "deliveries" USING btree ("not_before","id") WHERE "deliveries"."state" = 'scheduled' and "deliveries"."carried_by" is null;--> statement-breakpoint
CREATE INDEX "deliveries_carried_by_idx" ON "deliveries" USING btree ("carried_by") WHERE "deliveries"."carried_by" is not null;