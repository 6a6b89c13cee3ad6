ALTER TABLE "inbox_counts" ADD COLUMN "unseen" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "priority" text DEFAULT 'normal' NOT NULL;--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "actor" jsonb;--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "seen_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "archived_at" timestamp with time zone;--> statement-breakpoint
-- Reading marks seen: rows read before seen existed count as seen, the unread ones as unseen.
UPDATE "notifications" SET "seen_at" = "read_at" WHERE "read_at" IS NOT NULL;--> statement-breakpoint
UPDATE "inbox_counts" SET "unseen" = "unread";
