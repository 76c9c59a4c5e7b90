-- Staged rollouts: the rollout, its waves and the state of each targeted device
-- CreateTable
CREATE TABLE "Rollout" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "modelVersionId" UUID NOT NULL,
    "target" JSONB NOT NULL,
    "plan" JSONB NOT NULL,
    "status" TEXT NOT NULL,
    "currentWave" INTEGER NOT NULL DEFAULT 0,
    "step" INTEGER NOT NULL DEFAULT 0,
    "reason" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdBy" TEXT NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Rollout_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RolloutWave" (
    "rolloutId" UUID NOT NULL,
    "index" INTEGER NOT NULL,
    "soakSeconds" INTEGER NOT NULL,
    "requireApproval" BOOLEAN NOT NULL DEFAULT false,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "startedAt" TIMESTAMPTZ(3),
    "soakUntil" TIMESTAMPTZ(3),
    "evaluatedAt" TIMESTAMPTZ(3),
    "gate" JSONB,

    CONSTRAINT "RolloutWave_pkey" PRIMARY KEY ("rolloutId","index")
);

-- CreateTable
CREATE TABLE "RolloutDevice" (
    "rolloutId" UUID NOT NULL,
    "deviceId" UUID NOT NULL,
    "wave" INTEGER NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'pending',
    "fromAssignmentVersion" INTEGER,
    "assignmentVersion" INTEGER,
    "targetVariantId" UUID,
    "notifiedAt" TIMESTAMPTZ(3),
    "appliedAt" TIMESTAMPTZ(3),
    "late" BOOLEAN NOT NULL DEFAULT false,
    "reason" TEXT NOT NULL DEFAULT '',
    "figures" JSONB,

    CONSTRAINT "RolloutDevice_pkey" PRIMARY KEY ("rolloutId","deviceId")
);

-- CreateIndex
CREATE INDEX "Rollout_status_idx" ON "Rollout"("status");

-- CreateIndex
CREATE INDEX "RolloutDevice_deviceId_idx" ON "RolloutDevice"("deviceId");

-- CreateIndex
CREATE INDEX "RolloutDevice_rolloutId_wave_state_idx" ON "RolloutDevice"("rolloutId", "wave", "state");

-- AddForeignKey
ALTER TABLE "Rollout" ADD CONSTRAINT "Rollout_modelVersionId_fkey" FOREIGN KEY ("modelVersionId") REFERENCES "ModelVersion"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RolloutWave" ADD CONSTRAINT "RolloutWave_rolloutId_fkey" FOREIGN KEY ("rolloutId") REFERENCES "Rollout"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RolloutDevice" ADD CONSTRAINT "RolloutDevice_rolloutId_fkey" FOREIGN KEY ("rolloutId") REFERENCES "Rollout"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

