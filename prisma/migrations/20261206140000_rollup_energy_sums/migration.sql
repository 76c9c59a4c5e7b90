-- What the energy report and the rollout gates' baseline sum, kept in the per-device rollups so that
-- they read whole hours from there (telemetry-rollup.ts ClassSums). The counts and sums default to 0
-- so that a rollup written without them (the original backfill, replayed by bench:telemetry-storage)
-- reads as none, never fails.
ALTER TABLE "TelemetryDeviceRollup"
    ADD COLUMN "simWindows" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN "simInferences" BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN "simEnergyJ" DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN "simDurationS" DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN "simRemoteBytesSent" BIGINT,
    ADD COLUMN "simRemoteBytesReceived" BIGINT,
    ADD COLUMN "simPrecision" TEXT,
    ADD COLUMN "simFirstWindowStart" TIMESTAMPTZ(3),
    ADD COLUMN "simLastWindowEnd" TIMESTAMPTZ(3),
    ADD COLUMN "sensorWindows" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN "estimateWindows" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN "realRemoteBytesSent" BIGINT,
    ADD COLUMN "realRemoteBytesReceived" BIGINT,
    ADD COLUMN "realPrecision" TEXT,
    ADD COLUMN "realFirstWindowStart" TIMESTAMPTZ(3),
    ADD COLUMN "realLastWindowEnd" TIMESTAMPTZ(3),
    ADD COLUMN "activeWindows" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN "activeHistogramWindows" INTEGER NOT NULL DEFAULT 0;

-- The sums of the windows already folded in and still kept (a window still pending is added by the
-- fold, new columns included, and a rollup whose windows retention dropped keeps zeros).
UPDATE "TelemetryDeviceRollup" r
   SET "simWindows" = x."simWindows", "simInferences" = x."simInferences", "simEnergyJ" = x."simEnergyJ",
       "simDurationS" = x."simDurationS", "simRemoteBytesSent" = x."simRemoteBytesSent",
       "simRemoteBytesReceived" = x."simRemoteBytesReceived", "simPrecision" = x."simPrecision",
       "simFirstWindowStart" = x."simFirstWindowStart", "simLastWindowEnd" = x."simLastWindowEnd",
       "sensorWindows" = x."sensorWindows", "estimateWindows" = x."estimateWindows",
       "realRemoteBytesSent" = x."realRemoteBytesSent", "realRemoteBytesReceived" = x."realRemoteBytesReceived",
       "realPrecision" = x."realPrecision", "realFirstWindowStart" = x."realFirstWindowStart",
       "realLastWindowEnd" = x."realLastWindowEnd", "activeWindows" = x."activeWindows",
       "activeHistogramWindows" = x."activeHistogramWindows"
  FROM (SELECT w."deviceId" AS d, b.s, to_timestamp(floor(extract(epoch FROM w."windowStart") / b.s) * b.s) AS t, w."source" AS src,
               coalesce(w."variantId", '') AS v,
               count(*) FILTER (WHERE w.sim) AS "simWindows",
               coalesce(sum(w."inferences") FILTER (WHERE w.sim), 0) AS "simInferences",
               coalesce(sum(w."powerW" * w.seconds) FILTER (WHERE w.sim), 0) AS "simEnergyJ",
               coalesce(sum(w.seconds) FILTER (WHERE w.sim), 0) AS "simDurationS",
               sum(w."remoteBytesSent") FILTER (WHERE w.sim) AS "simRemoteBytesSent",
               sum(w."remoteBytesReceived") FILTER (WHERE w.sim) AS "simRemoteBytesReceived",
               max(w."precision") FILTER (WHERE w.sim) AS "simPrecision",
               min(w."windowStart") FILTER (WHERE w.sim) AS "simFirstWindowStart",
               max(w."windowEnd") FILTER (WHERE w.sim) AS "simLastWindowEnd",
               count(*) FILTER (WHERE w."powerSource" = 'sensor') AS "sensorWindows",
               count(*) FILTER (WHERE w."powerSource" = 'estimate') AS "estimateWindows",
               sum(w."remoteBytesSent") FILTER (WHERE NOT w.sim) AS "realRemoteBytesSent",
               sum(w."remoteBytesReceived") FILTER (WHERE NOT w.sim) AS "realRemoteBytesReceived",
               max(w."precision") FILTER (WHERE NOT w.sim) AS "realPrecision",
               min(w."windowStart") FILTER (WHERE NOT w.sim) AS "realFirstWindowStart",
               max(w."windowEnd") FILTER (WHERE NOT w.sim) AS "realLastWindowEnd",
               count(*) FILTER (WHERE w."inferences" > 0) AS "activeWindows",
               count(*) FILTER (WHERE w."inferences" > 0 AND w."latencyHistogram" IS NOT NULL) AS "activeHistogramWindows"
          FROM (SELECT tw.*, tw."powerSource" = 'simulated' AS sim,
                       greatest(0, extract(epoch FROM tw."windowEnd" - tw."windowStart"))::float8 AS seconds
                  FROM "TelemetryWindow" tw
                 WHERE NOT EXISTS (SELECT 1 FROM "TelemetryRollupPending" p WHERE p."windowId" = tw."id")) w
         CROSS JOIN (VALUES (60), (3600)) AS b(s)
         GROUP BY 1, 2, 3, 4, 5) x
 WHERE r."deviceId" = x.d AND r."bucketSeconds" = x.s AND r."bucketStart" = x.t AND r."source" = x.src AND r."variantId" = x.v;
