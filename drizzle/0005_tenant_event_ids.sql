-- An event id is unique within its tenant only (SPEC §2): the keys that name an event take its tenant too.
ALTER TABLE "events" DROP CONSTRAINT "events_pkey";--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_tenant_id_id_pk" PRIMARY KEY("tenant_id","id");--> statement-breakpoint
DROP INDEX "deliveries_event_channel_destination_uq";--> statement-breakpoint
CREATE UNIQUE INDEX "deliveries_event_channel_destination_uq" ON "deliveries" USING btree ("tenant_id","event_id","channel","destination");--> statement-breakpoint
DROP INDEX "notifications_event_user_uq";--> statement-breakpoint
CREATE UNIQUE INDEX "notifications_event_user_uq" ON "notifications" USING btree ("tenant_id","event_id","user_id");
