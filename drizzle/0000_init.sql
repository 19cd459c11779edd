CREATE TYPE "public"."user_role" AS ENUM('admin', 'publisher', 'consumer');--> statement-breakpoint
CREATE TYPE "public"."api_visibility" AS ENUM('public', 'private');--> statement-breakpoint
CREATE TYPE "public"."deployment_state" AS ENUM('deployed', 'undeployed');--> statement-breakpoint
CREATE TYPE "public"."host_rewrite" AS ENUM('auto', 'manual');--> statement-breakpoint
CREATE TYPE "public"."http_method" AS ENUM('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');--> statement-breakpoint
CREATE TYPE "public"."upstream_environment" AS ENUM('main', 'sandbox');--> statement-breakpoint
CREATE TYPE "public"."plan_security" AS ENUM('KEYLESS', 'API_KEY', 'JWT', 'OAUTH2');--> statement-breakpoint
CREATE TYPE "public"."plan_status" AS ENUM('STAGING', 'PUBLISHED', 'DEPRECATED', 'CLOSED');--> statement-breakpoint
CREATE TYPE "public"."plan_validation" AS ENUM('AUTO', 'MANUAL');--> statement-breakpoint
CREATE TYPE "public"."api_key_mode" AS ENUM('UNSPECIFIED', 'SHARED', 'EXCLUSIVE');--> statement-breakpoint
CREATE TYPE "public"."subscription_plan_status" AS ENUM('ACTIVE', 'INACTIVE');--> statement-breakpoint
CREATE TYPE "public"."throttle_limit_unit" AS ENUM('Min', 'Hour', 'Day', 'Month');--> statement-breakpoint
CREATE TYPE "public"."subscription_status" AS ENUM('PENDING', 'ACCEPTED', 'REJECTED', 'PAUSED', 'CLOSED');--> statement-breakpoint
CREATE TYPE "public"."api_key_status" AS ENUM('active', 'revoked', 'expired');--> statement-breakpoint
CREATE TABLE "users" (
	"id" text PRIMARY KEY NOT NULL,
	"username" text NOT NULL,
	"password_hash" text NOT NULL,
	"role" "user_role" NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "users_username_unique" UNIQUE("username")
);
--> statement-breakpoint
CREATE TABLE "api_policies" (
	"id" text PRIMARY KEY NOT NULL,
	"api_id" text NOT NULL,
	"operation_id" text,
	"position" integer NOT NULL,
	"name" text NOT NULL,
	"version" text NOT NULL,
	"execution_condition" text,
	"params" jsonb,
	"enabled" boolean DEFAULT true NOT NULL
);
--> statement-breakpoint
CREATE TABLE "api_upstreams" (
	"api_id" text NOT NULL,
	"environment" "upstream_environment" NOT NULL,
	"url" text,
	"ref" text,
	"host_rewrite" "host_rewrite"
);
--> statement-breakpoint
CREATE TABLE "apis" (
	"id" text PRIMARY KEY NOT NULL,
	"handle" text NOT NULL,
	"display_name" text NOT NULL,
	"version" text NOT NULL,
	"context" text NOT NULL,
	"visibility" "api_visibility" DEFAULT 'public' NOT NULL,
	"deployment_state" "deployment_state" DEFAULT 'deployed' NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"annotations" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"vhost_main" text,
	"vhost_sandbox" text,
	"subscription_plan_names" text[] DEFAULT '{}' NOT NULL,
	"owner_id" text,
	"deployed_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "operations" (
	"id" text PRIMARY KEY NOT NULL,
	"api_id" text NOT NULL,
	"position" integer NOT NULL,
	"method" "http_method" NOT NULL,
	"path" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "upstream_definitions" (
	"id" text PRIMARY KEY NOT NULL,
	"api_id" text NOT NULL,
	"position" integer NOT NULL,
	"name" text NOT NULL,
	"base_path" text,
	"connect_timeout" text
);
--> statement-breakpoint
CREATE TABLE "upstream_targets" (
	"definition_id" text NOT NULL,
	"position" integer NOT NULL,
	"url" text NOT NULL,
	"weight" integer
);
--> statement-breakpoint
CREATE TABLE "plan_policies" (
	"id" text PRIMARY KEY NOT NULL,
	"plan_id" text NOT NULL,
	"position" integer NOT NULL,
	"name" text NOT NULL,
	"version" text NOT NULL,
	"execution_condition" text,
	"params" jsonb
);
--> statement-breakpoint
CREATE TABLE "plans" (
	"id" text PRIMARY KEY NOT NULL,
	"api_id" text NOT NULL,
	"lineage_id" text NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"security" "plan_security" NOT NULL,
	"security_config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"selection_rule" text,
	"validation" "plan_validation" DEFAULT 'AUTO' NOT NULL,
	"status" "plan_status" DEFAULT 'STAGING' NOT NULL,
	"position" integer DEFAULT 0 NOT NULL,
	"published_at" timestamp with time zone,
	"deprecated_at" timestamp with time zone,
	"closed_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "applications" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"owner_id" text NOT NULL,
	"client_id" text,
	"api_key_mode" "api_key_mode" DEFAULT 'UNSPECIFIED' NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subscription_plans" (
	"id" text PRIMARY KEY NOT NULL,
	"plan_name" text NOT NULL,
	"billing_plan" text,
	"stop_on_quota_reach" boolean DEFAULT true NOT NULL,
	"throttle_limit_count" integer,
	"throttle_limit_unit" "throttle_limit_unit",
	"expiry_time" timestamp with time zone,
	"gateway_id" text,
	"status" "subscription_plan_status" DEFAULT 'ACTIVE' NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subscriptions" (
	"id" text PRIMARY KEY NOT NULL,
	"api_id" text NOT NULL,
	"application_id" text,
	"application_ref" text,
	"plan_id" text,
	"subscription_plan_id" text,
	"status" "subscription_status" DEFAULT 'PENDING' NOT NULL,
	"token_hash" text,
	"billing_customer_id" text,
	"billing_subscription_id" text,
	"gateway_id" text,
	"uses_shared_key" boolean DEFAULT false NOT NULL,
	"request_message" text,
	"reason" text,
	"starting_at" timestamp with time zone,
	"ending_at" timestamp with time zone,
	"processed_at" timestamp with time zone,
	"processed_by_id" text,
	"closed_at" timestamp with time zone,
	"created_by_id" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"display_name" text,
	"digest" text NOT NULL,
	"masked" text NOT NULL,
	"status" "api_key_status" DEFAULT 'active' NOT NULL,
	"is_custom" boolean DEFAULT false NOT NULL,
	"source" text DEFAULT 'local' NOT NULL,
	"expires_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"api_id" text,
	"subscription_id" text,
	"application_id" text,
	"replaced_by_id" text,
	"created_by_id" text,
	"created_by_name" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" text PRIMARY KEY NOT NULL,
	"actor_id" text,
	"actor_name" text NOT NULL,
	"action" text NOT NULL,
	"entity_type" text NOT NULL,
	"entity_id" text NOT NULL,
	"before" jsonb,
	"after" jsonb,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "api_policies" ADD CONSTRAINT "api_policies_api_id_apis_id_fk" FOREIGN KEY ("api_id") REFERENCES "public"."apis"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_policies" ADD CONSTRAINT "api_policies_operation_id_operations_id_fk" FOREIGN KEY ("operation_id") REFERENCES "public"."operations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_upstreams" ADD CONSTRAINT "api_upstreams_api_id_apis_id_fk" FOREIGN KEY ("api_id") REFERENCES "public"."apis"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "apis" ADD CONSTRAINT "apis_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "operations" ADD CONSTRAINT "operations_api_id_apis_id_fk" FOREIGN KEY ("api_id") REFERENCES "public"."apis"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "upstream_definitions" ADD CONSTRAINT "upstream_definitions_api_id_apis_id_fk" FOREIGN KEY ("api_id") REFERENCES "public"."apis"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "upstream_targets" ADD CONSTRAINT "upstream_targets_definition_id_upstream_definitions_id_fk" FOREIGN KEY ("definition_id") REFERENCES "public"."upstream_definitions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "plan_policies" ADD CONSTRAINT "plan_policies_plan_id_plans_id_fk" FOREIGN KEY ("plan_id") REFERENCES "public"."plans"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "plans" ADD CONSTRAINT "plans_api_id_apis_id_fk" FOREIGN KEY ("api_id") REFERENCES "public"."apis"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "applications" ADD CONSTRAINT "applications_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_api_id_apis_id_fk" FOREIGN KEY ("api_id") REFERENCES "public"."apis"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_application_id_applications_id_fk" FOREIGN KEY ("application_id") REFERENCES "public"."applications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_plan_id_plans_id_fk" FOREIGN KEY ("plan_id") REFERENCES "public"."plans"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_subscription_plan_id_subscription_plans_id_fk" FOREIGN KEY ("subscription_plan_id") REFERENCES "public"."subscription_plans"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_processed_by_id_users_id_fk" FOREIGN KEY ("processed_by_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_created_by_id_users_id_fk" FOREIGN KEY ("created_by_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_api_id_apis_id_fk" FOREIGN KEY ("api_id") REFERENCES "public"."apis"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_subscription_id_subscriptions_id_fk" FOREIGN KEY ("subscription_id") REFERENCES "public"."subscriptions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_application_id_applications_id_fk" FOREIGN KEY ("application_id") REFERENCES "public"."applications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_created_by_id_users_id_fk" FOREIGN KEY ("created_by_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_policies_api_idx" ON "api_policies" USING btree ("api_id","position");--> statement-breakpoint
CREATE INDEX "api_policies_operation_idx" ON "api_policies" USING btree ("operation_id");--> statement-breakpoint
CREATE UNIQUE INDEX "api_upstreams_api_env_key" ON "api_upstreams" USING btree ("api_id","environment");--> statement-breakpoint
CREATE UNIQUE INDEX "apis_handle_key" ON "apis" USING btree ("handle");--> statement-breakpoint
CREATE UNIQUE INDEX "apis_display_name_version_key" ON "apis" USING btree ("display_name","version");--> statement-breakpoint
CREATE INDEX "apis_owner_id_idx" ON "apis" USING btree ("owner_id");--> statement-breakpoint
CREATE UNIQUE INDEX "operations_api_method_path_key" ON "operations" USING btree ("api_id","method","path");--> statement-breakpoint
CREATE INDEX "operations_api_position_idx" ON "operations" USING btree ("api_id","position");--> statement-breakpoint
CREATE UNIQUE INDEX "upstream_definitions_api_name_key" ON "upstream_definitions" USING btree ("api_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "upstream_targets_definition_position_key" ON "upstream_targets" USING btree ("definition_id","position");--> statement-breakpoint
CREATE INDEX "plan_policies_plan_idx" ON "plan_policies" USING btree ("plan_id","position");--> statement-breakpoint
CREATE INDEX "plans_api_id_idx" ON "plans" USING btree ("api_id");--> statement-breakpoint
CREATE UNIQUE INDEX "plans_lineage_version_key" ON "plans" USING btree ("lineage_id","version");--> statement-breakpoint
CREATE INDEX "applications_owner_id_idx" ON "applications" USING btree ("owner_id");--> statement-breakpoint
CREATE UNIQUE INDEX "applications_client_id_key" ON "applications" USING btree ("client_id");--> statement-breakpoint
CREATE UNIQUE INDEX "subscription_plans_plan_name_key" ON "subscription_plans" USING btree ("plan_name");--> statement-breakpoint
CREATE INDEX "subscriptions_api_id_idx" ON "subscriptions" USING btree ("api_id");--> statement-breakpoint
CREATE INDEX "subscriptions_application_id_idx" ON "subscriptions" USING btree ("application_id");--> statement-breakpoint
CREATE INDEX "subscriptions_plan_id_idx" ON "subscriptions" USING btree ("plan_id");--> statement-breakpoint
CREATE INDEX "subscriptions_subscription_plan_id_idx" ON "subscriptions" USING btree ("subscription_plan_id");--> statement-breakpoint
CREATE UNIQUE INDEX "subscriptions_api_token_key" ON "subscriptions" USING btree ("api_id","token_hash") WHERE "subscriptions"."token_hash" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "subscriptions_application_plan_live_key" ON "subscriptions" USING btree ("application_id","plan_id") WHERE "subscriptions"."status" in ('PENDING', 'ACCEPTED', 'PAUSED');--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_digest_key" ON "api_keys" USING btree ("digest");--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_api_name_key" ON "api_keys" USING btree ("api_id","name") WHERE "api_keys"."revoked_at" is null and "api_keys"."replaced_by_id" is null;--> statement-breakpoint
CREATE INDEX "api_keys_api_id_idx" ON "api_keys" USING btree ("api_id","created_by_id");--> statement-breakpoint
CREATE INDEX "api_keys_subscription_id_idx" ON "api_keys" USING btree ("subscription_id");--> statement-breakpoint
CREATE INDEX "api_keys_application_id_idx" ON "api_keys" USING btree ("application_id");--> statement-breakpoint
CREATE INDEX "audit_log_entity_idx" ON "audit_log" USING btree ("entity_type","entity_id","at");--> statement-breakpoint
CREATE INDEX "audit_log_at_idx" ON "audit_log" USING btree ("at");