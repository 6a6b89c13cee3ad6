-- A webhook's due deliveries are sent by a job per group (src/deliveries/deliveryGroups.ts), not a
-- job each: a row names its group while the group owns it, so a re-run of routing and the outbox
-- sweeper find the group's job from the row. Rows written before have no group and keep their own jobs.
ALTER TABLE "deliveries" ADD COLUMN "job_group" text;--> statement-breakpoint
CREATE INDEX "deliveries_job_group_idx" ON "deliveries" USING btree ("job_group") WHERE "deliveries"."job_group" is not null and "deliveries"."state" = 'pending';