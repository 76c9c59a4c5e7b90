-- Windows whose rollup the database refused, set aside by the fold with the reason, so that one
-- such window no longer stops every fold (telemetry-rollup.repository.ts foldPending).
CREATE TABLE "TelemetryRollupParked" (
    "windowId" BIGINT NOT NULL,
    "windowStart" TIMESTAMPTZ(3) NOT NULL,
    "reason" TEXT NOT NULL,
    "parkedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TelemetryRollupParked_pkey" PRIMARY KEY ("windowId")
);

CREATE INDEX "TelemetryRollupParked_windowStart_idx" ON "TelemetryRollupParked"("windowStart");
