-- 0040_witness_checked: whether the body above checked a head it keeps.
--
-- A head from a peer with an audit key registered here is checked on
-- arrival and refused when no key verifies it (0033_peer_audit_keys.sql).
-- A head from a peer with no key registered is kept all the same, and
-- this column says so: refusing it would stop every forward and results
-- request of a body whose key was not registered yet, and the copy is
-- still worth keeping, since the body below checks the signature itself
-- when it verifies against it (`minyid audit verify --witness`), which
-- then counts the heads kept unchecked.  Heads kept before this migration
-- count as unchecked: whether a key checked them was not recorded.

ALTER TABLE audit_witness ADD COLUMN checked boolean NOT NULL DEFAULT false;

DROP FUNCTION minyi_audit_witness_put(bigint, bigint, text, text);

-- minyi_audit_witness_put of 0021_audit_witness.sql with p_checked: a key
-- registered for the peer verified the head.
CREATE FUNCTION minyi_audit_witness_put(p_peer bigint, p_seq bigint, p_hash text, p_sig text,
                                        p_checked boolean)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_seq IS NOT NULL THEN
        INSERT INTO audit_witness (peer, seq, hash, signature, checked)
        VALUES (p_peer, p_seq, decode(p_hash, 'hex'), decode(p_sig, 'hex'),
                coalesce(p_checked, false))
        ON CONFLICT (peer, seq) DO NOTHING;
    END IF;
    RETURN '{}'::jsonb;
END
$$;
