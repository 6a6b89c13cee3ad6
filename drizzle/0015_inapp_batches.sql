-- A large fan-out's in-app deliveries are recorded a batch at a time (src/db/schema.ts,
-- inappBatches): one row per INAPP_BATCH_SIZE recipients where the router wrote a pending
-- delivery row per recipient and the in-app worker updated each to sent. Pending in-app rows
-- written before stay and are finished as before: jobs enqueued before carry no batch number and
-- the worker marks their rows sent; the outbox sweeper marks sent any such row whose inbox row
-- exists and routes the rest again.
CREATE TABLE "inapp_batches" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "inapp_batches_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"tenant_id" text NOT NULL,
	"event_id" text NOT NULL,
	"batch" integer NOT NULL,
	"priority" text NOT NULL,
	"recipients" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"written_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "inapp_batches_event_batch_uq" ON "inapp_batches" USING btree ("tenant_id","event_id","batch");--> statement-breakpoint
CREATE INDEX "inapp_batches_unwritten_idx" ON "inapp_batches" USING btree ("created_at","id") WHERE "inapp_batches"."written_at" is null;--> statement-breakpoint
CREATE INDEX "inapp_batches_retention_idx" ON "inapp_batches" USING brin ("created_at");