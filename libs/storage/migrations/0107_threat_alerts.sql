-- Threat detection (libs/threats, docs/threats.md). threat_alerts: one row per alert per window in which something
-- happened to it (opened, updated, resolved), with its score, evidence (JSON list of {name, value, lower, upper})
-- and the hosts that saw it; an alert is all rows of one alert_id. threat_state: the detectors' baselines and open
-- alerts after each evaluated window (JSON), so the next window, on any instance or after a restart, continues from
-- the last one stored. Both keyed per window: a window evaluated again replaces its rows (version = partial rows the
-- evaluation merged). Read with FINAL.
CREATE TABLE IF NOT EXISTS {database}.threat_alerts
(
    window_start DateTime('UTC'),
    alert_id String,
    window_seconds UInt32,
    kind LowCardinality(String),
    subject String,
    event LowCardinality(String),
    opened_at DateTime('UTC'),
    score Float64,
    evidence String,
    hosts Array(String),
    related Array(String),
    version UInt64,
    detected_at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (window_start, alert_id)
TTL expires_at;

CREATE TABLE IF NOT EXISTS {database}.threat_state
(
    window_start DateTime('UTC'),
    window_seconds UInt32,
    version UInt64,
    state String,
    updated_at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY window_start
TTL expires_at;
