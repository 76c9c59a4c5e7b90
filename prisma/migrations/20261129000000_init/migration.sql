-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "HardwareProfile" (
    "id" TEXT NOT NULL,
    "hardwareClass" TEXT NOT NULL,
    "accelerator" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "HardwareProfile_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "EnrollmentToken" (
    "id" UUID NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "scenario" TEXT NOT NULL,
    "labels" JSONB NOT NULL DEFAULT '{}',
    "maxUses" INTEGER NOT NULL,
    "uses" INTEGER NOT NULL DEFAULT 0,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "revokedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdBy" TEXT NOT NULL,

    CONSTRAINT "EnrollmentToken_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Device" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "scenario" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "labels" JSONB NOT NULL DEFAULT '{}',
    "hardwareProfileId" TEXT NOT NULL,
    "secretHash" TEXT NOT NULL,
    "enrollmentTokenId" UUID,
    "enrolledAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMP(3),
    "bootId" TEXT,
    "assignmentVersion" INTEGER NOT NULL DEFAULT 0,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "Device_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Policy" (
    "scenario" TEXT NOT NULL,
    "tier" TEXT NOT NULL,
    "latencyTargetMs" DOUBLE PRECISION NOT NULL,
    "latencyPercentile" TEXT NOT NULL,
    "location" TEXT NOT NULL,
    "precisionOrder" TEXT[],
    "memoryPlacement" TEXT NOT NULL,
    "errorRateMax" DOUBLE PRECISION NOT NULL,
    "powerBudgetW" DOUBLE PRECISION,
    "modelVersionId" UUID,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Policy_pkey" PRIMARY KEY ("scenario")
);

-- CreateTable
CREATE TABLE "Model" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Model_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelVersion" (
    "id" UUID NOT NULL,
    "modelId" UUID NOT NULL,
    "version" TEXT NOT NULL,
    "inputs" JSONB NOT NULL,
    "graph" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdBy" TEXT NOT NULL,

    CONSTRAINT "ModelVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelVariant" (
    "id" UUID NOT NULL,
    "modelVersionId" UUID NOT NULL,
    "precision" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "sizeBytes" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'ready',
    "measured" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ModelVariant_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Assignment" (
    "id" UUID NOT NULL,
    "deviceId" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "modelVariantId" UUID,
    "reason" TEXT NOT NULL,
    "desired" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdBy" TEXT NOT NULL,

    CONSTRAINT "Assignment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ReportedState" (
    "deviceId" UUID NOT NULL,
    "bootId" TEXT NOT NULL,
    "phase" TEXT NOT NULL,
    "appliedAssignmentVersion" INTEGER,
    "activeVariantId" TEXT,
    "activeSha256" TEXT,
    "payload" JSONB NOT NULL,
    "reportedAt" TIMESTAMP(3) NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ReportedState_pkey" PRIMARY KEY ("deviceId")
);

-- CreateTable
CREATE TABLE "TelemetryWindow" (
    "id" BIGSERIAL NOT NULL,
    "deviceId" UUID NOT NULL,
    "bootId" UUID NOT NULL,
    "seq" BIGINT NOT NULL,
    "windowStart" TIMESTAMPTZ(3) NOT NULL,
    "windowEnd" TIMESTAMPTZ(3) NOT NULL,
    "modelVersionId" TEXT,
    "variantId" TEXT,
    "precision" TEXT,
    "inferences" INTEGER NOT NULL,
    "errors" INTEGER NOT NULL,
    "latencyP50Ms" DOUBLE PRECISION,
    "latencyP95Ms" DOUBLE PRECISION,
    "latencyP99Ms" DOUBLE PRECISION,
    "latencyMaxMs" DOUBLE PRECISION,
    "powerW" DOUBLE PRECISION NOT NULL,
    "powerSource" TEXT NOT NULL,
    "powerDetail" TEXT NOT NULL,
    "rssMb" DOUBLE PRECISION NOT NULL,
    "heapUsedMb" DOUBLE PRECISION NOT NULL,
    "cacheHits" INTEGER NOT NULL DEFAULT 0,
    "fallbacks" INTEGER NOT NULL DEFAULT 0,
    "receivedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TelemetryWindow_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RejectedMessage" (
    "id" BIGSERIAL NOT NULL,
    "topic" TEXT NOT NULL,
    "deviceId" TEXT,
    "reason" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "receivedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RejectedMessage_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ApiToken" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMP(3),
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ApiToken_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AuditEvent" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "targetType" TEXT NOT NULL,
    "targetId" TEXT NOT NULL,
    "details" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "AuditEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "HardwareProfile_hardwareClass_idx" ON "HardwareProfile"("hardwareClass");

-- CreateIndex
CREATE UNIQUE INDEX "EnrollmentToken_tokenHash_key" ON "EnrollmentToken"("tokenHash");

-- CreateIndex
CREATE INDEX "Device_scenario_status_idx" ON "Device"("scenario", "status");

-- CreateIndex
CREATE INDEX "Device_status_idx" ON "Device"("status");

-- CreateIndex
CREATE UNIQUE INDEX "Model_name_key" ON "Model"("name");

-- CreateIndex
CREATE UNIQUE INDEX "ModelVersion_modelId_version_key" ON "ModelVersion"("modelId", "version");

-- CreateIndex
CREATE INDEX "ModelVariant_sha256_idx" ON "ModelVariant"("sha256");

-- CreateIndex
CREATE UNIQUE INDEX "ModelVariant_modelVersionId_precision_key" ON "ModelVariant"("modelVersionId", "precision");

-- CreateIndex
CREATE UNIQUE INDEX "Assignment_deviceId_version_key" ON "Assignment"("deviceId", "version");

-- CreateIndex
CREATE INDEX "TelemetryWindow_deviceId_windowEnd_idx" ON "TelemetryWindow"("deviceId", "windowEnd");

-- CreateIndex
CREATE UNIQUE INDEX "TelemetryWindow_deviceId_bootId_seq_key" ON "TelemetryWindow"("deviceId", "bootId", "seq");

-- CreateIndex
CREATE INDEX "RejectedMessage_receivedAt_idx" ON "RejectedMessage"("receivedAt");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_tokenHash_key" ON "ApiToken"("tokenHash");

-- CreateIndex
CREATE INDEX "AuditEvent_targetType_targetId_idx" ON "AuditEvent"("targetType", "targetId");

-- AddForeignKey
ALTER TABLE "Device" ADD CONSTRAINT "Device_hardwareProfileId_fkey" FOREIGN KEY ("hardwareProfileId") REFERENCES "HardwareProfile"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Device" ADD CONSTRAINT "Device_enrollmentTokenId_fkey" FOREIGN KEY ("enrollmentTokenId") REFERENCES "EnrollmentToken"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Policy" ADD CONSTRAINT "Policy_modelVersionId_fkey" FOREIGN KEY ("modelVersionId") REFERENCES "ModelVersion"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ModelVersion" ADD CONSTRAINT "ModelVersion_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "Model"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ModelVariant" ADD CONSTRAINT "ModelVariant_modelVersionId_fkey" FOREIGN KEY ("modelVersionId") REFERENCES "ModelVersion"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Assignment" ADD CONSTRAINT "Assignment_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Assignment" ADD CONSTRAINT "Assignment_modelVariantId_fkey" FOREIGN KEY ("modelVariantId") REFERENCES "ModelVariant"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ReportedState" ADD CONSTRAINT "ReportedState_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE RESTRICT ON UPDATE CASCADE;


-- Seed: the default policy set (SPEC.md, risk tiers and scenarios).
INSERT INTO "Policy" ("scenario", "tier", "latencyTargetMs", "latencyPercentile", "location", "precisionOrder", "memoryPlacement", "errorRateMax", "powerBudgetW") VALUES
  ('financial_trading', 'high', 10, 'p99', 'edge', ARRAY['fp16','fp32'], 'SRAM+DRAM', 0.0001, NULL),
  ('autonomous_driving', 'high', 5, 'p95', 'edge', ARRAY['int8','fp16','fp32'], 'SRAM+L2+L3', 0.001, NULL),
  ('customer_support_agent', 'medium', 50, 'p99', 'hybrid', ARRAY['fp16','fp32'], 'DRAM+cache', 0.01, NULL),
  ('robotic_manipulation', 'medium', 20, 'p99', 'hybrid', ARRAY['int8','fp16','fp32'], 'L2+L3+DRAM', 0.01, 5),
  ('content_generation_agent', 'low', 200, 'p99', 'cloud', ARRAY['fp32'], 'DRAM+disk', 0.05, NULL),
  ('data_analysis_agent', 'low', 500, 'p99', 'cloud', ARRAY['fp32'], 'DRAM+disk', 0.05, NULL);
