DROP INDEX "rules_unique_route_uq";--> statement-breakpoint
ALTER TABLE "rules" ALTER COLUMN "channel" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "priority" text DEFAULT 'normal' NOT NULL;--> statement-breakpoint
-- A v1 rule had one channel: it becomes the one-element channel set.
ALTER TABLE "rules" ADD COLUMN "channels" text[];--> statement-breakpoint
UPDATE "rules" SET "channels" = ARRAY["channel"];--> statement-breakpoint
ALTER TABLE "rules" ALTER COLUMN "channels" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "rules" ADD COLUMN "recipients" jsonb DEFAULT '{"kind":"event"}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "rules" ADD COLUMN "priority" text;--> statement-breakpoint
ALTER TABLE "rules" ADD COLUMN "content" jsonb;--> statement-breakpoint
ALTER TABLE "rules" ADD COLUMN "delivery" jsonb;--> statement-breakpoint
ALTER TABLE "teams" ADD COLUMN "member_ids" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "rules_version" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "roles" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "timezone" text DEFAULT 'UTC' NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "quiet_hours" jsonb;--> statement-breakpoint
CREATE INDEX "rules_tenant_idx" ON "rules" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "users_roles_idx" ON "users" USING gin ("roles");--> statement-breakpoint
CREATE UNIQUE INDEX "rules_unique_route_uq" ON "rules" USING btree ("tenant_id","event_type","channels","severity_filter","recipients") WHERE "rules"."enabled";