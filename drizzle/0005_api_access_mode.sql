CREATE TYPE "public"."api_access_mode" AS ENUM('PLANS', 'OPEN');--> statement-breakpoint
ALTER TABLE "apis" ADD COLUMN "access_mode" "api_access_mode" DEFAULT 'PLANS' NOT NULL;--> statement-breakpoint
-- Data migration (hand-written): existing APIs keep serving as they did. One without any plan (whatever its
-- status) was open under v0.9 rules and stays OPEN; one with a plan, of any status, is governed by plans (PLANS):
-- if none of its plans is PUBLISHED or DEPRECATED it now admits nobody (403) instead of everyone (issue 12).
UPDATE "apis" SET "access_mode" = 'OPEN' WHERE NOT EXISTS (SELECT 1 FROM "plans" WHERE "plans"."api_id" = "apis"."id");
