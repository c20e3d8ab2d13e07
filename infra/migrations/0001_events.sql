-- Every event that reached the persist function, once per (source, id):
-- the CloudEvents identity, so a redelivered batch adds no row.
CREATE TABLE events (
    source           text        NOT NULL,
    id               text        NOT NULL,
    type             text        NOT NULL,
    subject          text,
    time             timestamptz,
    datacontenttype  text,
    data             jsonb,
    -- non-JSON payloads (binary-mode events with another content type)
    data_binary      bytea,
    extensions       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    kafka_topic      text,
    kafka_partition  integer,
    kafka_offset     bigint,
    received_at      timestamptz NOT NULL DEFAULT now(),
    -- insertion order, for readers that page through new rows
    seq              bigint      GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (source, id)
);

CREATE INDEX events_type_time_idx ON events (type, time);
CREATE UNIQUE INDEX events_seq_idx ON events (seq);
