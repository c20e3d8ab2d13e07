-- Alerts with state. "alerts" becomes one row per alert instance (a rule and a
-- group: pending, firing or resolved), "alert_transitions" holds each change,
-- window rules keep their windows in "alert_windows", and
-- "alert_applied_events" names every (rule, event) already counted, so a
-- redelivered or replayed event changes nothing.

ALTER TABLE alerts RENAME TO alerts_v1;
-- the new table's primary key takes the old one's name
ALTER TABLE alerts_v1 RENAME CONSTRAINT alerts_pkey TO alerts_v1_pkey;

CREATE TABLE alerts (
    -- md5(rule || E'\n' || group_key)::uuid, as eventcore.instances.key computes it
    id                 text             PRIMARY KEY,
    rule               text             NOT NULL,
    -- the group as json_build_object(label, value, ...)::text, in group_by order
    group_key          text             NOT NULL,
    labels             jsonb            NOT NULL,
    state              text             NOT NULL
        CHECK (state IN ('inactive', 'pending', 'firing', 'resolved')),
    severity           text             NOT NULL DEFAULT '',
    message            text             NOT NULL DEFAULT '',
    threshold          double precision,
    -- the episode: when it began to hold (event time), fired and ended
    started_at         timestamptz,
    fired_at           timestamptz,
    ended_at           timestamptz,
    last_true_at       timestamptz,
    cleared_at         timestamptz,
    -- when the newest matching event was processed (resolve_after, absent_for)
    last_seen_at       timestamptz,
    first_event_source text,
    first_event_id     text,
    -- the newest event counted: the instance's last event
    event_source       text,
    event_id           text,
    event_type         text,
    event_time         timestamptz,
    event_count        bigint           NOT NULL DEFAULT 0,
    value              double precision,
    transitions        integer          NOT NULL DEFAULT 0,
    -- Alertmanager has yet to hear of the newest firing or resolving
    notify             boolean          NOT NULL DEFAULT false,
    notified_at        timestamptz,
    created_at         timestamptz      NOT NULL DEFAULT now(),
    updated_at         timestamptz      NOT NULL DEFAULT now()
);

CREATE INDEX alerts_active_idx ON alerts (state) WHERE state IN ('pending', 'firing');
CREATE INDEX alerts_notify_idx ON alerts (id) WHERE notify;
CREATE INDEX alerts_rule_seen_idx ON alerts (rule, last_seen_at);
CREATE INDEX alerts_event_idx ON alerts (event_id);

-- Each alert raised before alerts had state was one event's: they become one
-- resolved instance per rule and source (the group [source, subject] of an
-- event without a subject), counting those events.
WITH grouped AS (
    SELECT rule, event_source,
           json_build_object('source', event_source, 'subject', '')::text AS group_key,
           count(*) AS events, min(created_at) AS first_at, max(created_at) AS last_at
    FROM alerts_v1
    GROUP BY rule, event_source
), latest AS (
    SELECT DISTINCT ON (rule, event_source) *
    FROM alerts_v1
    ORDER BY rule, event_source, created_at DESC, id
), earliest AS (
    SELECT DISTINCT ON (rule, event_source) rule, event_source, event_id
    FROM alerts_v1
    ORDER BY rule, event_source, created_at, id
)
INSERT INTO alerts (id, rule, group_key, labels, state, severity, message, threshold,
                    started_at, fired_at, ended_at, last_seen_at,
                    first_event_source, first_event_id, event_source, event_id, event_type,
                    event_time, event_count, value, created_at, updated_at)
SELECT md5(g.rule || E'\n' || g.group_key)::uuid::text, g.rule, g.group_key,
       jsonb_build_object('source', g.event_source, 'subject', ''), 'resolved',
       l.severity, l.message, l.threshold,
       g.first_at, g.first_at, g.last_at, g.last_at,
       g.event_source, e.event_id, g.event_source, l.event_id, l.event_type,
       l.event_time, g.events, l.value, g.first_at, g.last_at
FROM grouped g
JOIN latest l USING (rule, event_source)
JOIN earliest e USING (rule, event_source);

DROP TABLE alerts_v1;

CREATE TABLE alert_transitions (
    alert_id     text             NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    -- numbered within the instance: a transition is recorded exactly once
    seq          integer          NOT NULL,
    from_state   text             NOT NULL,
    to_state     text             NOT NULL,
    at           timestamptz      NOT NULL,
    reason       text             NOT NULL,
    event_source text,
    event_id     text,
    value        double precision,
    recorded_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, seq)
);

CREATE INDEX alert_transitions_at_idx ON alert_transitions (at);

CREATE TABLE alert_windows (
    -- the instance the window's result goes to
    alert_id          text             NOT NULL,
    rule              text             NOT NULL,
    group_key         text             NOT NULL,
    labels            jsonb            NOT NULL,
    window_start      timestamptz      NOT NULL,
    window_end        timestamptz      NOT NULL,
    closes_at         timestamptz      NOT NULL,
    count             bigint           NOT NULL,
    total             double precision NOT NULL,
    low               double precision,
    high              double precision,
    last_event_source text,
    last_event_id     text,
    last_event_type   text,
    last_event_time   timestamptz,
    -- closed windows take nothing more; they are kept a day, then pruned
    closed            boolean          NOT NULL DEFAULT false,
    PRIMARY KEY (alert_id, window_start)
);

CREATE INDEX alert_windows_open_idx ON alert_windows (closes_at) WHERE NOT closed;

CREATE TABLE alert_applied_events (
    rule         text        NOT NULL,
    event_source text        NOT NULL,
    event_id     text        NOT NULL,
    -- counted in no window: every window it fell in had closed
    late         boolean     NOT NULL DEFAULT false,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule, event_source, event_id)
);

CREATE INDEX alert_applied_events_at_idx ON alert_applied_events (applied_at);
