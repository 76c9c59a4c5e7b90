-- The scenario overview reads one resolution's group rollups of the last 24 h: through the
-- "bucketStart" index it visited the 1-minute rows of the period too (60 for each hourly one).
CREATE INDEX "TelemetryGroupRollup_bucketSeconds_bucketStart_idx" ON "TelemetryGroupRollup"("bucketSeconds", "bucketStart");
