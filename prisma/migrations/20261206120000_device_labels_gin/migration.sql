-- CreateIndex: a label-scoped token's reads filter devices with `labels @> $n` (issue 12), which
-- without an index reads the whole Device table. jsonb_path_ops: smaller and faster than the
-- default operator class, and @> is the only operator the scope filter uses.
CREATE INDEX "Device_labels_idx" ON "Device" USING GIN ("labels" jsonb_path_ops);
