-- 0007_intake_lz4: the free text of reports compressed with LZ4 instead of
-- pglz.
--
-- A report of a few KB does not fit the 2 KB TOAST target, so PostgreSQL
-- compresses its text on every insert: once into reports, and once more
-- into report_versions, where the first-version trigger copies it.  With
-- pglz that compression was the largest single cost of intake in the
-- database (about a quarter of PostgreSQL's CPU per report in
-- tests/bench/run, 4 KB Chinese text); LZ4 compresses the same text to
-- nearly the same size (2146 bytes against pglz's 2090 for the bench's
-- 3696) at a fraction of the CPU.  Only rows written from now on use it;
-- stored rows keep pglz, and PostgreSQL reads both.
--
-- LZ4 exists only in servers built with it (--with-lz4, as the PGDG and
-- Debian packages are); on others this migration changes nothing.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
                WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE reports
            ALTER COLUMN title SET COMPRESSION lz4,
            ALTER COLUMN situation SET COMPRESSION lz4,
            ALTER COLUMN analysis SET COMPRESSION lz4,
            ALTER COLUMN suggestions SET COMPRESSION lz4;
        ALTER TABLE report_versions
            ALTER COLUMN title SET COMPRESSION lz4,
            ALTER COLUMN situation SET COMPRESSION lz4,
            ALTER COLUMN analysis SET COMPRESSION lz4,
            ALTER COLUMN suggestions SET COMPRESSION lz4;
    END IF;
END
$$;
