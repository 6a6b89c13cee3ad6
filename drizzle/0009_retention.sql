CREATE INDEX "deliveries_retention_idx" ON "deliveries" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "delivery_attempts_retention_idx" ON "delivery_attempts" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "digests_retention_idx" ON "digests" USING btree ("closes_at") WHERE "digests"."state" = 'closed';--> statement-breakpoint
CREATE INDEX "events_retention_idx" ON "events" USING btree ("accepted_at") WHERE "events"."routed_at" is not null;--> statement-breakpoint
CREATE INDEX "notifications_retention_idx" ON "notifications" USING btree ("created_at") WHERE "notifications"."read_at" is not null or "notifications"."archived_at" is not null;