-- Variants are built per method (INT8 has a static and a dynamic one). A variant that could not
-- be built keeps its row with the reason and no artifact. (No semicolons in comments: the migration runner splits on them.)
DROP INDEX "ModelVariant_modelVersionId_precision_key";
ALTER TABLE "ModelVariant" ALTER COLUMN "sha256" DROP NOT NULL, ALTER COLUMN "sizeBytes" DROP NOT NULL;
ALTER TABLE "ModelVariant" ADD COLUMN "method" TEXT NOT NULL DEFAULT 'fp32', ADD COLUMN "reason" TEXT;
CREATE UNIQUE INDEX "ModelVariant_modelVersionId_method_key" ON "ModelVariant"("modelVersionId", "method");
