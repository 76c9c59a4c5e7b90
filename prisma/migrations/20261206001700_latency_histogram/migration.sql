-- AlterTable: each window's latency histogram, sparse [[bucket, count], ...] (issue 17), NULL from agents that predate it
ALTER TABLE "TelemetryWindow" ADD COLUMN     "latencyHistogram" JSONB;
