-- herald_uuidv7(): an RFC 9562 version 7 UUID — 48 bits of Unix milliseconds, then the version,
-- the variant and 74 random bits taken from a gen_random_uuid() (PostgreSQL 18 has uuidv7() built
-- in; this is the same layout for 15–17). New deliveries take it as their key, so each insert lands
-- at the right edge of the primary key's B-tree instead of on a random page of the whole index:
-- see the comment on deliveries.id in src/db/schema.ts and "history" in docs/benchmarks.md.
-- Existing rows keep their keys: nothing reads meaning into a key's value (the outbox sweeper's
-- (updated_at, id) pages take it only as a tie-break).
CREATE FUNCTION herald_uuidv7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  select encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
        placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
        from 1 for 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;--> statement-breakpoint
ALTER TABLE "deliveries" ALTER COLUMN "id" SET DEFAULT herald_uuidv7();
