-- Calibration inputs may be uploaded with a model version. Null means generated from the input spec.
ALTER TABLE "ModelVersion" ADD COLUMN "calibrationSha256" TEXT;
