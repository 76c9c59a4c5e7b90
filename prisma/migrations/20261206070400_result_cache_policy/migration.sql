-- AlterTable: each scenario's result cache in the policy (issue 18), off by default
ALTER TABLE "Policy" ADD COLUMN     "resultCacheEntries" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "resultCacheTtlMs" INTEGER NOT NULL DEFAULT 60000;

-- AlterTable: the inference time a window's cache hits saved (estimated from the measured runs they reused)
ALTER TABLE "TelemetryWindow" ADD COLUMN     "cacheSavedMs" DOUBLE PRECISION;
