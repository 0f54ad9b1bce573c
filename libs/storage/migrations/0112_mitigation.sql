-- Mitigation (docs/threats.md, "Mitigation"): block rules, their audit trail and the agents' counters.
-- mitigation_rules: one row per version of a rule (1 proposed; then approved or rejected; then removed); the row of
-- the highest version is the rule (read with FINAL). applies_until is the approval time plus the TTL (0 before
-- approval). mitigation_audit: every step, who (a token's name, or host:<id> for what an agent did), when, what (the
-- rule as JSON) and why: proposed, approved, rejected, removed, and per host applied, refused, removed, expired.
-- mitigation_counters: per rule and host the newest counters an agent reported (packets and bytes the rule dropped
-- there since it was applied, or would have dropped in dry-run). Every table expires with expires_at.
CREATE TABLE IF NOT EXISTS {database}.mitigation_rules
(
    rule_id String,
    version UInt32,
    status LowCardinality(String),
    src_prefix String,
    dst String,
    port UInt16,
    protocol LowCardinality(String),
    ttl_seconds UInt32,
    dry_run UInt8,
    hosts Array(String),
    reason String,
    origin LowCardinality(String),
    alert_id String,
    proposed_by String,
    proposed_at DateTime64(3, 'UTC'),
    decided_by String,
    decided_at DateTime64(3, 'UTC'),
    applies_until DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY rule_id
TTL expires_at;

CREATE TABLE IF NOT EXISTS {database}.mitigation_audit
(
    at DateTime64(3, 'UTC'),
    rule_id String,
    version UInt32,
    step LowCardinality(String),
    actor String,
    host String,
    detail String,
    rule String,
    packets UInt64,
    bytes UInt64,
    expires_at DateTime('UTC')
)
ENGINE = MergeTree
ORDER BY (rule_id, at, step, host)
TTL expires_at;

CREATE TABLE IF NOT EXISTS {database}.mitigation_counters
(
    rule_id String,
    host String,
    version UInt32,
    dry_run UInt8,
    packets UInt64,
    bytes UInt64,
    at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(at)
ORDER BY (rule_id, host)
TTL expires_at;
