-- A device's own id for its enrollment: a try repeated with the same token and id (its answer was
-- lost) is the same enrollment, answered with the same device and a new secret (devices.service.ts).
ALTER TABLE "Device" ADD COLUMN "enrollmentRequestId" UUID;

CREATE UNIQUE INDEX "Device_enrollmentTokenId_enrollmentRequestId_key" ON "Device"("enrollmentTokenId", "enrollmentRequestId");
