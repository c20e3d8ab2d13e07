-- Alerts raised by the alert function: at most one per rule and event.
CREATE TABLE alerts (
    -- deterministic from (rule, event_source, event_id), also the id of the
    -- CloudEvent produced to the "alerts" topic
    id            text             PRIMARY KEY,
    rule          text             NOT NULL,
    severity      text             NOT NULL,
    message       text             NOT NULL,
    event_source  text             NOT NULL,
    event_id      text             NOT NULL,
    event_type    text             NOT NULL,
    event_time    timestamptz,
    value         double precision,
    threshold     double precision,
    created_at    timestamptz      NOT NULL DEFAULT now(),
    UNIQUE (rule, event_source, event_id)
);

CREATE INDEX alerts_created_at_idx ON alerts (created_at);
