-- 0021_audit_witness: the heads of the audit chains of the bodies below,
-- kept here as their external witness (PROTOCOL.md §3.13), and this
-- body's own newest head for the forwarder to send upward.

-- Every signed head a peer sent with a forward or a results request.  The
-- first copy of a (peer, seq) stays: a later head for the same seq with
-- another hash is the sign of a rewritten chain below, not a correction.
CREATE TABLE audit_witness (
    peer        bigint NOT NULL REFERENCES principals (id),
    seq         bigint NOT NULL CHECK (seq > 0),
    hash        bytea NOT NULL CHECK (length(hash) = 32),
    signature   bytea NOT NULL CHECK (length(signature) = 64),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (peer, seq)
);

-- Stores the head p_peer sent (hex; NULL p_seq: it sent none) and answers
-- an empty object, so the statement of a forward or a results pull can
-- append it to its own answer and both happen in one transaction.
CREATE FUNCTION minyi_audit_witness_put(p_peer bigint, p_seq bigint, p_hash text, p_sig text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_seq IS NOT NULL THEN
        INSERT INTO audit_witness (peer, seq, hash, signature)
        VALUES (p_peer, p_seq, decode(p_hash, 'hex'), decode(p_sig, 'hex'))
        ON CONFLICT (peer, seq) DO NOTHING;
    END IF;
    RETURN '{}'::jsonb;
END
$$;

-- This body's newest signed head as {"audit_head": {seq, hash, signature}}
-- (hex), or an empty object before the sealer has signed one.
CREATE FUNCTION minyi_audit_head()
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT jsonb_build_object('audit_head', jsonb_build_object(
                                'seq', seq, 'hash', encode(hash, 'hex'),
                                'signature', encode(signature, 'hex')))
                       FROM audit_heads ORDER BY seq DESC LIMIT 1), '{}'::jsonb)
$$;
