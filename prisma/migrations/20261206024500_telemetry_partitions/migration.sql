-- Telemetry at fleet scale (SPEC M12, issue 15): TelemetryWindow becomes a table partitioned by day
-- on "windowStart", and rollups (per device, per scenario, variant and hardware class, 1 minute and
-- 1 hour) are kept beside it. Hand-written: Prisma cannot describe partitioning.
--
-- Postgres wants every unique constraint of a partitioned table to hold the partition key, so the
-- ingest idempotency key (deviceId, bootId, seq) moves to its own narrow table, TelemetryWindowKey,
-- that the ingest inserts into first in the same statement: a window whose key is there is not
-- stored again, whatever start it claims (see telemetry.repository.ts).
--
-- The table is rebuilt with LIKE, so columns added by migrations before this one come along.

ALTER TABLE "TelemetryWindow" RENAME TO "TelemetryWindow_unpartitioned";
ALTER SEQUENCE "TelemetryWindow_id_seq" OWNED BY NONE;
ALTER TABLE "TelemetryWindow_unpartitioned" RENAME CONSTRAINT "TelemetryWindow_pkey" TO "TelemetryWindow_unpartitioned_pkey";
ALTER INDEX "TelemetryWindow_deviceId_bootId_seq_key" RENAME TO "TelemetryWindow_unpartitioned_key";
ALTER INDEX "TelemetryWindow_deviceId_windowEnd_idx" RENAME TO "TelemetryWindow_unpartitioned_idx";

CREATE TABLE "TelemetryWindow" (LIKE "TelemetryWindow_unpartitioned" INCLUDING DEFAULTS) PARTITION BY RANGE ("windowStart");
ALTER SEQUENCE "TelemetryWindow_id_seq" OWNED BY "TelemetryWindow"."id";
ALTER TABLE "TelemetryWindow" ADD CONSTRAINT "TelemetryWindow_pkey" PRIMARY KEY ("id", "windowStart");
CREATE INDEX "TelemetryWindow_deviceId_windowEnd_idx" ON "TelemetryWindow"("deviceId", "windowEnd");

-- A window whose day has no partition lands here instead of failing its batch. The day partitions
-- are made by the telemetry retention job (telemetry-retention.service.ts, a BullMQ job scheduler in
-- the worker, first run when a worker starts): from yesterday to a week ahead, and for every day
-- within retention that this partition holds rows of, moving them in. So the rows kept here now
-- move into their days at the first pass, and the job deletes those past retention. (Prisma splits
-- a migration at every semicolon, so no DO block can make the partitions here.)
CREATE TABLE "TelemetryWindow_default" PARTITION OF "TelemetryWindow" DEFAULT;

INSERT INTO "TelemetryWindow" SELECT * FROM "TelemetryWindow_unpartitioned";

-- CreateTable
CREATE TABLE "TelemetryWindowKey" (
    "deviceId" UUID NOT NULL,
    "bootId" UUID NOT NULL,
    "seq" BIGINT NOT NULL,
    "windowStart" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "TelemetryWindowKey_pkey" PRIMARY KEY ("deviceId","bootId","seq")
);

-- CreateIndex
CREATE INDEX "TelemetryWindowKey_windowStart_idx" ON "TelemetryWindowKey"("windowStart");

INSERT INTO "TelemetryWindowKey" ("deviceId", "bootId", "seq", "windowStart")
SELECT "deviceId", "bootId", "seq", min("windowStart") FROM "TelemetryWindow" GROUP BY 1, 2, 3;
DROP TABLE "TelemetryWindow_unpartitioned";

-- CreateTable
CREATE TABLE "TelemetryDeviceRollup" (
    "deviceId" UUID NOT NULL,
    "bucketSeconds" INTEGER NOT NULL,
    "bucketStart" TIMESTAMPTZ(3) NOT NULL,
    "source" TEXT NOT NULL,
    "variantId" TEXT NOT NULL,
    "modelVersionId" TEXT,
    "precision" TEXT,
    "windows" INTEGER NOT NULL,
    "inferences" BIGINT NOT NULL,
    "errors" BIGINT NOT NULL,
    "cacheHits" BIGINT NOT NULL,
    "fallbacks" BIGINT NOT NULL,
    "latencyHistogram" JSONB,
    "approxInferences" BIGINT NOT NULL,
    "approxP50Sum" DOUBLE PRECISION NOT NULL,
    "approxP95Sum" DOUBLE PRECISION NOT NULL,
    "approxP99Sum" DOUBLE PRECISION NOT NULL,
    "latencyMaxMs" DOUBLE PRECISION,
    "queueP99MaxMs" DOUBLE PRECISION,
    "powerSumW" DOUBLE PRECISION NOT NULL,
    "powerMinW" DOUBLE PRECISION NOT NULL,
    "powerMaxW" DOUBLE PRECISION NOT NULL,
    "energyJ" DOUBLE PRECISION NOT NULL,
    "durationS" DOUBLE PRECISION NOT NULL,
    "rssMaxMb" DOUBLE PRECISION NOT NULL,
    "powerSource" TEXT NOT NULL,
    "powerDetail" TEXT NOT NULL,
    "firstWindowStart" TIMESTAMPTZ(3) NOT NULL,
    "lastWindowEnd" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "TelemetryDeviceRollup_pkey" PRIMARY KEY ("deviceId","bucketSeconds","bucketStart","source","variantId")
);

-- CreateTable
CREATE TABLE "TelemetryGroupRollup" (
    "scenario" TEXT NOT NULL,
    "variantId" TEXT NOT NULL,
    "hardwareClass" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "bucketSeconds" INTEGER NOT NULL,
    "bucketStart" TIMESTAMPTZ(3) NOT NULL,
    "modelVersionId" TEXT,
    "precision" TEXT,
    "windows" INTEGER NOT NULL,
    "inferences" BIGINT NOT NULL,
    "errors" BIGINT NOT NULL,
    "cacheHits" BIGINT NOT NULL,
    "fallbacks" BIGINT NOT NULL,
    "latencyHistogram" JSONB,
    "approxInferences" BIGINT NOT NULL,
    "approxP50Sum" DOUBLE PRECISION NOT NULL,
    "approxP95Sum" DOUBLE PRECISION NOT NULL,
    "approxP99Sum" DOUBLE PRECISION NOT NULL,
    "latencyMaxMs" DOUBLE PRECISION,
    "queueP99MaxMs" DOUBLE PRECISION,
    "powerSumW" DOUBLE PRECISION NOT NULL,
    "powerMinW" DOUBLE PRECISION NOT NULL,
    "powerMaxW" DOUBLE PRECISION NOT NULL,
    "energyJ" DOUBLE PRECISION NOT NULL,
    "durationS" DOUBLE PRECISION NOT NULL,
    "powerSource" TEXT NOT NULL,
    "firstWindowStart" TIMESTAMPTZ(3) NOT NULL,
    "lastWindowEnd" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "TelemetryGroupRollup_pkey" PRIMARY KEY ("scenario","bucketSeconds","bucketStart","variantId","hardwareClass","source")
);

-- CreateIndex
CREATE INDEX "TelemetryDeviceRollup_bucketStart_idx" ON "TelemetryDeviceRollup"("bucketStart");

-- CreateIndex
CREATE INDEX "TelemetryGroupRollup_bucketStart_idx" ON "TelemetryGroupRollup"("bucketStart");

-- CreateIndex
CREATE INDEX "TelemetryGroupRollup_variantId_bucketSeconds_bucketStart_idx" ON "TelemetryGroupRollup"("variantId", "bucketSeconds", "bucketStart");

-- The rollups of the windows stored so far (from here on the ingest adds each new window to them).
-- Per device:
INSERT INTO "TelemetryDeviceRollup" ("deviceId", "bucketSeconds", "bucketStart", "source", "variantId", "modelVersionId", "precision",
    "windows", "inferences", "errors", "cacheHits", "fallbacks", "approxInferences", "approxP50Sum", "approxP95Sum", "approxP99Sum",
    "latencyMaxMs", "queueP99MaxMs", "powerSumW", "powerMinW", "powerMaxW", "energyJ", "durationS", "rssMaxMb", "powerSource", "powerDetail",
    "firstWindowStart", "lastWindowEnd")
SELECT w."deviceId", b.s, to_timestamp(floor(extract(epoch FROM w."windowStart") / b.s) * b.s), w."source", coalesce(w."variantId", ''),
       (array_agg(w."modelVersionId" ORDER BY w."windowEnd" DESC))[1], (array_agg(w."precision" ORDER BY w."windowEnd" DESC))[1],
       count(*), sum(w."inferences"), sum(w."errors"), sum(w."cacheHits"), sum(w."fallbacks"),
       sum(CASE WHEN w."latencyHistogram" IS NULL AND w."latencyP50Ms" IS NOT NULL THEN w."inferences" ELSE 0 END),
       coalesce(sum(CASE WHEN w."latencyHistogram" IS NULL THEN w."inferences" * w."latencyP50Ms" END), 0),
       coalesce(sum(CASE WHEN w."latencyHistogram" IS NULL THEN w."inferences" * w."latencyP95Ms" END), 0),
       coalesce(sum(CASE WHEN w."latencyHistogram" IS NULL THEN w."inferences" * w."latencyP99Ms" END), 0),
       max(w."latencyMaxMs"), max(w."queueP99Ms"), sum(w."powerW"), min(w."powerW"), max(w."powerW"),
       sum(w."powerW" * greatest(0, extract(epoch FROM w."windowEnd" - w."windowStart"))),
       sum(greatest(0, extract(epoch FROM w."windowEnd" - w."windowStart"))), max(w."rssMb"),
       (array_agg(w."powerSource" ORDER BY w."windowEnd" DESC))[1], (array_agg(w."powerDetail" ORDER BY w."windowEnd" DESC))[1],
       min(w."windowStart"), max(w."windowEnd")
  FROM "TelemetryWindow" w CROSS JOIN (VALUES (60), (3600)) AS b(s)
 GROUP BY 1, 2, 3, 4, 5;

UPDATE "TelemetryDeviceRollup" r SET "latencyHistogram" = h.hist
  FROM (SELECT d, s, t, src, v, jsonb_agg(jsonb_build_array(k, c) ORDER BY k) AS hist
          FROM (SELECT w."deviceId" AS d, b.s, to_timestamp(floor(extract(epoch FROM w."windowStart") / b.s) * b.s) AS t, w."source" AS src,
                       coalesce(w."variantId", '') AS v, (e->>0)::int AS k, sum((e->>1)::bigint) AS c
                  FROM "TelemetryWindow" w CROSS JOIN (VALUES (60), (3600)) AS b(s) CROSS JOIN jsonb_array_elements(w."latencyHistogram") AS e
                 GROUP BY 1, 2, 3, 4, 5, 6) x
         GROUP BY 1, 2, 3, 4, 5) h
 WHERE r."deviceId" = h.d AND r."bucketSeconds" = h.s AND r."bucketStart" = h.t AND r."source" = h.src AND r."variantId" = h.v;

-- Per scenario, variant and hardware class (the device as it is now):
INSERT INTO "TelemetryGroupRollup" ("scenario", "variantId", "hardwareClass", "source", "bucketSeconds", "bucketStart", "modelVersionId", "precision",
    "windows", "inferences", "errors", "cacheHits", "fallbacks", "approxInferences", "approxP50Sum", "approxP95Sum", "approxP99Sum",
    "latencyMaxMs", "queueP99MaxMs", "powerSumW", "powerMinW", "powerMaxW", "energyJ", "durationS", "powerSource",
    "firstWindowStart", "lastWindowEnd")
SELECT d."scenario", coalesce(w."variantId", ''), hp."hardwareClass", w."source", b.s, to_timestamp(floor(extract(epoch FROM w."windowStart") / b.s) * b.s),
       (array_agg(w."modelVersionId" ORDER BY w."windowEnd" DESC))[1], (array_agg(w."precision" ORDER BY w."windowEnd" DESC))[1],
       count(*), sum(w."inferences"), sum(w."errors"), sum(w."cacheHits"), sum(w."fallbacks"),
       sum(CASE WHEN w."latencyHistogram" IS NULL AND w."latencyP50Ms" IS NOT NULL THEN w."inferences" ELSE 0 END),
       coalesce(sum(CASE WHEN w."latencyHistogram" IS NULL THEN w."inferences" * w."latencyP50Ms" END), 0),
       coalesce(sum(CASE WHEN w."latencyHistogram" IS NULL THEN w."inferences" * w."latencyP95Ms" END), 0),
       coalesce(sum(CASE WHEN w."latencyHistogram" IS NULL THEN w."inferences" * w."latencyP99Ms" END), 0),
       max(w."latencyMaxMs"), max(w."queueP99Ms"), sum(w."powerW"), min(w."powerW"), max(w."powerW"),
       sum(w."powerW" * greatest(0, extract(epoch FROM w."windowEnd" - w."windowStart"))),
       sum(greatest(0, extract(epoch FROM w."windowEnd" - w."windowStart"))),
       (array_agg(w."powerSource" ORDER BY w."windowEnd" DESC))[1], min(w."windowStart"), max(w."windowEnd")
  FROM "TelemetryWindow" w JOIN "Device" d ON d."id" = w."deviceId" JOIN "HardwareProfile" hp ON hp."id" = d."hardwareProfileId"
 CROSS JOIN (VALUES (60), (3600)) AS b(s)
 GROUP BY 1, 2, 3, 4, 5, 6;

UPDATE "TelemetryGroupRollup" r SET "latencyHistogram" = h.hist
  FROM (SELECT sc, v, hc, src, s, t, jsonb_agg(jsonb_build_array(k, c) ORDER BY k) AS hist
          FROM (SELECT d."scenario" AS sc, coalesce(w."variantId", '') AS v, hp."hardwareClass" AS hc, w."source" AS src, b.s,
                       to_timestamp(floor(extract(epoch FROM w."windowStart") / b.s) * b.s) AS t, (e->>0)::int AS k, sum((e->>1)::bigint) AS c
                  FROM "TelemetryWindow" w JOIN "Device" d ON d."id" = w."deviceId" JOIN "HardwareProfile" hp ON hp."id" = d."hardwareProfileId"
                 CROSS JOIN (VALUES (60), (3600)) AS b(s) CROSS JOIN jsonb_array_elements(w."latencyHistogram") AS e
                 GROUP BY 1, 2, 3, 4, 5, 6, 7) x
         GROUP BY 1, 2, 3, 4, 5, 6) h
 WHERE r."scenario" = h.sc AND r."variantId" = h.v AND r."hardwareClass" = h.hc AND r."source" = h.src AND r."bucketSeconds" = h.s AND r."bucketStart" = h.t;
