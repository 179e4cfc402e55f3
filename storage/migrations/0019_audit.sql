-- 0019_audit: the tamper-evident audit chain (storage/audit.h).
--
-- What is chained: every reports row (its intake: the columns a report never
-- changes afterwards), every events row (each change of a report) and every
-- admin_events row (changes that concern no report: principals, config).
-- The sealer (gateway/sealer.c) reads these rows, in id order per table, and
-- appends one audit_chain row per source row:
--
--     hash(seq) = SHA-256(0x00 || hash(seq - 1) || canonical(row))
--
-- with hash(0) = 32 zero bytes; canonical() is defined once, in
-- storage/audit.c.  Intake writes nothing more than before: the chain costs
-- the sealer's batched work, not a row in every intake transaction.

-- Changes that concern no report: who did what to which principal, when
-- the config was reloaded.  Written in the same transaction as the change.
CREATE TABLE admin_events (
    id       bigserial PRIMARY KEY,
    actor    text NOT NULL,         -- 'operator' (minyid command), 'gateway', or a principal id
    action   text NOT NULL,         -- principal_add, principal_disable, principal_enable, ...
    subject  text NOT NULL DEFAULT '',
    note     text NOT NULL DEFAULT '',
    at       timestamptz NOT NULL DEFAULT now()
);

-- One row per sealed source row, in the order sealed.  source: 'r' reports,
-- 'e' events, 'a' admin_events; ref_id: that row's id.
CREATE TABLE audit_chain (
    seq     bigint PRIMARY KEY CHECK (seq > 0),
    source  "char" NOT NULL CHECK (source IN ('r', 'e', 'a')),
    ref_id  bigint NOT NULL,
    hash    bytea NOT NULL CHECK (length(hash) = 32)
);

-- The sealer's place in each source table.  Every row with id <= hwm is
-- sealed, or its id will never be committed.  Ids are drawn from sequences
-- in one order and committed in another, so a missing id below a visible
-- row may belong to a transaction still running.  When the sealer meets
-- such a gap it notes the highest id it saw (pend_id); a round later the
-- xmax of its snapshot (pend_xmax); once the oldest running transaction is
-- younger than pend_xmax, every transaction that drew an id up to pend_id
-- has ended, and the gaps below pend_id are final (storage/audit.c).
CREATE TABLE audit_marks (
    source    "char" PRIMARY KEY CHECK (source IN ('r', 'e', 'a')),
    hwm       bigint NOT NULL DEFAULT 0,
    pend_id   bigint,
    pend_xmax xid8
);
INSERT INTO audit_marks (source) VALUES ('r'), ('e'), ('a');

-- Heads signed by the sealer with the instance's Ed25519 key: the signature
-- covers the body region, seq and hash (storage/audit.c, audit_head_message).
CREATE TABLE audit_heads (
    seq        bigint PRIMARY KEY,
    hash       bytea NOT NULL CHECK (length(hash) = 32),
    signature  bytea NOT NULL,
    signed_at  timestamptz NOT NULL DEFAULT now()
);
