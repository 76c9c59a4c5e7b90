-- AlterTable: the bytes a hybrid device sent to and received from cloud nodes in a window (issue 13, M20)
ALTER TABLE "TelemetryWindow" ADD COLUMN     "remoteBytesSent" BIGINT,
ADD COLUMN     "remoteBytesReceived" BIGINT;
