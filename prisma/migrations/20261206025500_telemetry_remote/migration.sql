-- AlterTable: hybrid devices' requests forwarded to cloud nodes (issue 18), apart from the local runs
ALTER TABLE "TelemetryWindow" ADD COLUMN     "remoteInferences" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "remoteErrors" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "remoteP50Ms" DOUBLE PRECISION,
ADD COLUMN     "remoteP95Ms" DOUBLE PRECISION,
ADD COLUMN     "remoteP99Ms" DOUBLE PRECISION,
ADD COLUMN     "remoteMaxMs" DOUBLE PRECISION;
