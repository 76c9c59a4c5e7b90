-- AlterTable: whose work a window describes, and the traffic's queue wait (issue 18)
ALTER TABLE "TelemetryWindow" ADD COLUMN     "source" TEXT NOT NULL DEFAULT 'probe',
ADD COLUMN     "queueP50Ms" DOUBLE PRECISION,
ADD COLUMN     "queueP95Ms" DOUBLE PRECISION,
ADD COLUMN     "queueP99Ms" DOUBLE PRECISION,
ADD COLUMN     "queueMaxMs" DOUBLE PRECISION;
