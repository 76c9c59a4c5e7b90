-- Tamper-evident audit (issue 12): each event carries the SHA-256 of the event before it and its own
-- (computed by infra/audit.repository.ts under a transaction-scoped advisory lock, so appends are
-- serialised and ids follow the chain). An UPDATE or DELETE of a row breaks the chain at that row;
-- GET /api/v1/audit/verify names the first broken link. Rows written before this migration have no
-- hashes and are reported as outside the chain.
ALTER TABLE "AuditEvent" ADD COLUMN "prevHash" TEXT, ADD COLUMN "hash" TEXT;
