-- CreateTable: windows stored but not yet folded into the rollups (issue 15: the rollups leave the
-- ingest transaction, and a worker job folds these and deletes them in one transaction)
-- (no semicolon in comments: Prisma's runner splits the script at every one)
CREATE TABLE "TelemetryRollupPending" (
    "windowId" BIGINT NOT NULL,
    "windowStart" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "TelemetryRollupPending_pkey" PRIMARY KEY ("windowId")
);
