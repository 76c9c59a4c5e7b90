-- Alerts (SPEC M15, issue 13): rules, alerts with their transitions, silences, webhook receivers and deliveries
-- CreateTable
CREATE TABLE "AlertRule" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "scenario" TEXT,
    "threshold" DOUBLE PRECISION,
    "percentile" TEXT,
    "forSeconds" INTEGER NOT NULL,
    "lookbackSeconds" INTEGER NOT NULL,
    "hysteresis" DOUBLE PRECISION NOT NULL,
    "severity" TEXT NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "origin" TEXT NOT NULL DEFAULT 'operator',
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AlertRule_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Alert" (
    "id" UUID NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "ruleId" UUID NOT NULL,
    "subject" TEXT NOT NULL,
    "scenario" TEXT,
    "state" TEXT NOT NULL,
    "value" DOUBLE PRECISION,
    "threshold" DOUBLE PRECISION,
    "activeAt" TIMESTAMPTZ(3),
    "firedAt" TIMESTAMPTZ(3),
    "resolvedAt" TIMESTAMPTZ(3),
    "evaluatedAt" TIMESTAMPTZ(3) NOT NULL,
    "notifiedState" TEXT,
    "labels" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "Alert_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AlertTransition" (
    "id" BIGSERIAL NOT NULL,
    "alertId" UUID NOT NULL,
    "fromState" TEXT NOT NULL,
    "toState" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "value" DOUBLE PRECISION,
    "threshold" DOUBLE PRECISION,
    "figures" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "AlertTransition_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Silence" (
    "id" UUID NOT NULL,
    "matchers" JSONB NOT NULL,
    "startsAt" TIMESTAMPTZ(3) NOT NULL,
    "endsAt" TIMESTAMPTZ(3) NOT NULL,
    "comment" TEXT NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Silence_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WebhookReceiver" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "secretEnc" TEXT NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebhookReceiver_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WebhookDelivery" (
    "id" BIGSERIAL NOT NULL,
    "receiverId" UUID NOT NULL,
    "alertId" UUID NOT NULL,
    "notification" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "outcome" TEXT NOT NULL,
    "httpStatus" INTEGER,
    "error" TEXT,
    "durationMs" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebhookDelivery_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "AlertRule_name_key" ON "AlertRule"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Alert_fingerprint_key" ON "Alert"("fingerprint");

-- CreateIndex
CREATE INDEX "Alert_state_idx" ON "Alert"("state");

-- CreateIndex
CREATE INDEX "Alert_ruleId_state_idx" ON "Alert"("ruleId", "state");

-- CreateIndex
CREATE INDEX "AlertTransition_alertId_id_idx" ON "AlertTransition"("alertId", "id");

-- CreateIndex
CREATE INDEX "Silence_endsAt_idx" ON "Silence"("endsAt");

-- CreateIndex
CREATE INDEX "WebhookDelivery_receiverId_id_idx" ON "WebhookDelivery"("receiverId", "id");

-- CreateIndex
CREATE INDEX "WebhookDelivery_alertId_idx" ON "WebhookDelivery"("alertId");

-- CreateIndex
CREATE INDEX "WebhookDelivery_notification_idx" ON "WebhookDelivery"("notification");

-- AddForeignKey
ALTER TABLE "Alert" ADD CONSTRAINT "Alert_ruleId_fkey" FOREIGN KEY ("ruleId") REFERENCES "AlertRule"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AlertTransition" ADD CONSTRAINT "AlertTransition_alertId_fkey" FOREIGN KEY ("alertId") REFERENCES "Alert"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "WebhookDelivery" ADD CONSTRAINT "WebhookDelivery_receiverId_fkey" FOREIGN KEY ("receiverId") REFERENCES "WebhookReceiver"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- The rules every fleet starts with: the policy set's targets (threshold null: the scenario's policy
-- gives it) and the fleet conditions. Operators change their thresholds or add their own.
INSERT INTO "AlertRule" ("id", "name", "metric", "scenario", "threshold", "percentile", "forSeconds", "lookbackSeconds", "hysteresis", "severity", "origin", "createdBy") VALUES
  (gen_random_uuid(), 'latency_over_target', 'latency_ms', NULL, NULL, NULL, 60, 60, 0.1, 'critical', 'policy', 'migration'),
  (gen_random_uuid(), 'error_rate_over_max', 'error_rate', NULL, NULL, NULL, 60, 60, 0.1, 'critical', 'policy', 'migration'),
  (gen_random_uuid(), 'power_over_budget', 'power_w', NULL, NULL, NULL, 120, 120, 0.05, 'warning', 'policy', 'migration'),
  (gen_random_uuid(), 'device_offline', 'device_offline', NULL, NULL, NULL, 120, 60, 0, 'warning', 'policy', 'migration'),
  (gen_random_uuid(), 'telemetry_silent', 'telemetry_silent_s', NULL, 300, NULL, 0, 60, 0, 'warning', 'policy', 'migration'),
  (gen_random_uuid(), 'update_failed', 'update_failed', NULL, NULL, NULL, 0, 60, 0, 'warning', 'policy', 'migration'),
  (gen_random_uuid(), 'stale_metadata', 'stale_metadata', NULL, NULL, NULL, 0, 60, 0, 'warning', 'policy', 'migration'),
  (gen_random_uuid(), 'rollout_failed', 'rollout_failed', NULL, NULL, NULL, 0, 60, 0, 'critical', 'policy', 'migration');
