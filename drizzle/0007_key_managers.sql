CREATE TABLE "key_managers" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"issuer" text,
	"jwks_url" text,
	"certificate" text,
	"jwks" text,
	"audiences" text[] DEFAULT '{}' NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "key_managers_one_key_source" CHECK (num_nonnulls("key_managers"."jwks_url", "key_managers"."certificate", "key_managers"."jwks") = 1)
);
--> statement-breakpoint
CREATE UNIQUE INDEX "key_managers_name_key" ON "key_managers" USING btree ("name");