-- 0033_peer_audit_keys: the audit keys of the bodies below.
--
-- The head of a lower body's audit chain, sent with its forwards and
-- results requests (0021_audit_witness.sql), is signed with that body's
-- Ed25519 key.  Its public key is registered here for its peer principal
-- (`minyid principal audit-key ID FILE`), and a head that no key of that
-- peer verifies is refused (gateway/request.c).  A rotated key is a second
-- row: keys are never replaced, so the heads signed with the old key still
-- verify with it.
CREATE TABLE peer_audit_keys (
    peer        bigint NOT NULL REFERENCES principals (id),
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (peer, public_key)
);
