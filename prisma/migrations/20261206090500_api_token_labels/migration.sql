-- AlterTable: a token may be limited to devices carrying given labels (issue 12, label scope)
ALTER TABLE "ApiToken" ADD COLUMN     "labels" JSONB NOT NULL DEFAULT '{}';
