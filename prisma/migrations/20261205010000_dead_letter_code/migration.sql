-- AlterTable
ALTER TABLE "RejectedMessage" ADD COLUMN     "code" TEXT NOT NULL DEFAULT 'invalid';

-- CreateIndex
CREATE INDEX "RejectedMessage_deviceId_code_idx" ON "RejectedMessage"("deviceId", "code");
