-- The device list pages in (enrolledAt, id) order, optionally filtered by scenario and status.
CREATE INDEX "Device_enrolledAt_id_idx" ON "Device"("enrolledAt", "id");
CREATE INDEX "Device_scenario_status_enrolledAt_id_idx" ON "Device"("scenario", "status", "enrolledAt", "id");
