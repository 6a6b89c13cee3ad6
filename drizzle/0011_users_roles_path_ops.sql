-- Built beside the old index and swapped in by name, so the lock that dropping an index takes
-- (reads of users wait) lasts an instant, not the build.
CREATE INDEX "users_roles_path_idx" ON "users" USING gin ("roles" jsonb_path_ops);--> statement-breakpoint
DROP INDEX "users_roles_idx";--> statement-breakpoint
ALTER INDEX "users_roles_path_idx" RENAME TO "users_roles_idx";
