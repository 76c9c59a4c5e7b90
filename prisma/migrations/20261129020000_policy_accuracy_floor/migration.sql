-- AlterTable: the lowest output agreement with FP32 a variant of this scenario may have.
ALTER TABLE "Policy" ADD COLUMN "accuracyFloor" DOUBLE PRECISION NOT NULL DEFAULT 0.99;

-- Defaults of the policy set (packages/shared/src/policy.ts).
UPDATE "Policy" SET "accuracyFloor" = 0.999 WHERE "scenario" = 'financial_trading';
UPDATE "Policy" SET "accuracyFloor" = 0.98 WHERE "scenario" IN ('content_generation_agent', 'data_analysis_agent');
