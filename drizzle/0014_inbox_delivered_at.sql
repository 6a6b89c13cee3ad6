-- An inbox row records when a live stream first carried it: the notification is its own in-app
-- delivery's record from now on, and the router stops writing a delivery row beside it (see
-- src/deliveries/timeline.ts). Rows written before keep their delivery rows, which the timeline
-- still shows as they are. A nullable column without a default: no rewrite of the table.
ALTER TABLE "notifications" ADD COLUMN "delivered_at" timestamp with time zone;
