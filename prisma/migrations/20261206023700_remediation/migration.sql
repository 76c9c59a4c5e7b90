-- Automated remediation (SPEC M14, issue 13): per-scenario settings, the actions taken or suggested,
-- and each device's override (what the desired-state builder puts on top of its assignment)
-- CreateTable
CREATE TABLE "RemediationSetting" (
    "scenario" TEXT NOT NULL,
    "mode" TEXT NOT NULL DEFAULT 'off',
    "maxDevicesPerHour" INTEGER NOT NULL DEFAULT 10,
    "maxPercentPerHour" DOUBLE PRECISION DEFAULT 10,
    "holdOffSeconds" INTEGER NOT NULL DEFAULT 900,
    "checkWindowSeconds" INTEGER NOT NULL DEFAULT 300,
    "rateFactor" DOUBLE PRECISION NOT NULL DEFAULT 0.5,
    "dutyCycle" DOUBLE PRECISION NOT NULL DEFAULT 0.5,
    "updatedBy" TEXT,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RemediationSetting_pkey" PRIMARY KEY ("scenario")
);

-- CreateTable
CREATE TABLE "RemediationAction" (
    "id" UUID NOT NULL,
    "deviceId" UUID NOT NULL,
    "scenario" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "rule" TEXT NOT NULL,
    "alertId" UUID,
    "episode" TIMESTAMPTZ(3),
    "reason" TEXT NOT NULL,
    "before" JSONB NOT NULL,
    "after" JSONB NOT NULL,
    "figuresBefore" JSONB NOT NULL DEFAULT '{}',
    "figuresAfter" JSONB,
    "undoes" UUID,
    "createdAt" TIMESTAMPTZ(3) NOT NULL,
    "appliedAt" TIMESTAMPTZ(3),
    "checkAt" TIMESTAMPTZ(3),
    "decidedBy" TEXT,
    "decidedAt" TIMESTAMPTZ(3),
    "outcomeAt" TIMESTAMPTZ(3),

    CONSTRAINT "RemediationAction_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "DeviceOverride" (
    "deviceId" UUID NOT NULL,
    "modelVersionId" UUID NOT NULL,
    "baseVariantId" UUID NOT NULL,
    "variantId" UUID,
    "maxRateHz" DOUBLE PRECISION,
    "dutyCycle" DOUBLE PRECISION,
    "actionId" UUID NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DeviceOverride_pkey" PRIMARY KEY ("deviceId")
);

-- CreateIndex
CREATE INDEX "RemediationAction_deviceId_createdAt_idx" ON "RemediationAction"("deviceId", "createdAt");

-- CreateIndex
CREATE INDEX "RemediationAction_scenario_appliedAt_idx" ON "RemediationAction"("scenario", "appliedAt");

-- CreateIndex
CREATE INDEX "RemediationAction_status_idx" ON "RemediationAction"("status");

-- AddForeignKey
ALTER TABLE "RemediationAction" ADD CONSTRAINT "RemediationAction_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "DeviceOverride" ADD CONSTRAINT "DeviceOverride_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE CASCADE ON UPDATE CASCADE;
