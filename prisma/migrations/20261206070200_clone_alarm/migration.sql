-- Clone alarm (RELIABILITY row 13): two clients with one device identity
ALTER TABLE "Device" ADD COLUMN "cloneSuspectedAt" TIMESTAMP(3),
ADD COLUMN "cloneReason" TEXT,
ADD COLUMN "cloneDetections" INTEGER NOT NULL DEFAULT 0;

-- Every fleet gets the alert on a raised clone alarm (a device whose identity two clients use)
INSERT INTO "AlertRule" ("id", "name", "metric", "scenario", "threshold", "percentile", "forSeconds", "lookbackSeconds", "hysteresis", "severity", "origin", "createdBy") VALUES
  (gen_random_uuid(), 'clone_suspected', 'clone_suspected', NULL, NULL, NULL, 0, 60, 0, 'critical', 'policy', 'migration');
