-- Operator tokens (issue 12, SPEC M16): scenario scope, a listable prefix, expiry and rotation;
-- server-side dashboard sessions bound to the token they were exchanged for
-- AlterTable
ALTER TABLE "ApiToken" ADD COLUMN     "scenarios" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "prefix" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "expiresAt" TIMESTAMP(3),
ADD COLUMN     "rotatedAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "OperatorSession" (
    "id" UUID NOT NULL,
    "tokenId" UUID NOT NULL,
    "sessionHash" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "OperatorSession_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "OperatorSession_sessionHash_key" ON "OperatorSession"("sessionHash");

-- CreateIndex
CREATE INDEX "OperatorSession_tokenId_idx" ON "OperatorSession"("tokenId");

-- AddForeignKey
ALTER TABLE "OperatorSession" ADD CONSTRAINT "OperatorSession_tokenId_fkey" FOREIGN KEY ("tokenId") REFERENCES "ApiToken"("id") ON DELETE CASCADE ON UPDATE CASCADE;
