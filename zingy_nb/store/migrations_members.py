"""The member-key steps of the team store's schema (see ``vault.member``).

Kept apart from ``migrations`` for size; ``POSTGRES_MEMBER_KEYS`` is ``POSTGRES`` with
these steps.
"""

from __future__ import annotations

from typing import Final

from .migrations import (
    ADMIN_ROLE,
    DEFINER_ROLE,
    MEMBER_ROLE,
    PG_SIGNED_ACCESS,
    POSTGRES,
    SCHEMA,
    Migration,
)

# Member keys (no shared master key): each member publishes public keys under their
# role; each profile's data key is wrapped per reading member; rows carry the writer's
# signature. The readers of a profile are computed by a definer function, for callers
# who may write it (a writer re-seals for every reader, grants it cannot see). Legacy
# rows (signer NULL) stay under the master key until an admin converts them.
_PG_V3: Final = f"""
CREATE TABLE {SCHEMA}.members (
    role name PRIMARY KEY DEFAULT current_user,
    enc_key bytea NOT NULL,
    sig_key bytea NOT NULL,
    fingerprint text NOT NULL,
    self_signature bytea NOT NULL,
    joined timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {SCHEMA}.endorsements (
    role name NOT NULL,
    fingerprint text NOT NULL,
    endorsed_by name NOT NULL DEFAULT current_user,
    signature bytea NOT NULL,
    endorsed timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role, fingerprint, endorsed_by)
);
CREATE TABLE {SCHEMA}.wraps (
    profile_id bigint NOT NULL REFERENCES {SCHEMA}.profiles (id) ON DELETE CASCADE,
    role name NOT NULL,
    fingerprint text NOT NULL,
    key_id text NOT NULL,
    wrap bytea NOT NULL,
    wrapped_by name NOT NULL DEFAULT current_user,
    signature bytea NOT NULL,
    PRIMARY KEY (profile_id, role)
);
ALTER TABLE {SCHEMA}.profiles ADD COLUMN signer name, ADD COLUMN signature bytea;

-- The member roles that may read profile `pid` (level >= 1) and whether each has
-- joined; answered only to a caller who may write `pid`, for one of its own roles.
CREATE FUNCTION {SCHEMA}.readers(pid bigint, who name)
RETURNS TABLE (role name, joined boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    profile_owner name;
BEGIN
    IF NOT pg_has_role(session_user, who, 'MEMBER') OR {SCHEMA}.level(pid, who) < 2 THEN
        RETURN;
    END IF;
    SELECT p.owner INTO profile_owner FROM {SCHEMA}.profiles p WHERE p.id = pid;
    RETURN QUERY
        SELECT r.rolname,
               EXISTS (SELECT 1 FROM {SCHEMA}.members m WHERE m.role = r.rolname)
        FROM pg_roles r
        WHERE NOT r.rolsuper
          AND (r.rolcanlogin OR EXISTS (SELECT 1 FROM {SCHEMA}.members m
                                        WHERE m.role = r.rolname))
          AND {SCHEMA}.role_in(r.rolname, '{MEMBER_ROLE}')
          AND ({SCHEMA}.role_in(r.rolname, profile_owner)
               OR {SCHEMA}.role_in(r.rolname, '{ADMIN_ROLE}')
               OR EXISTS (SELECT 1 FROM {SCHEMA}.grants g WHERE g.profile_id = pid
                          AND {SCHEMA}.role_in(r.rolname, g.grantee)))
        ORDER BY r.rolname;
END
$$;
ALTER FUNCTION {SCHEMA}.readers(bigint, name) OWNER TO {DEFINER_ROLE};
REVOKE ALL ON FUNCTION {SCHEMA}.readers(bigint, name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {SCHEMA}.readers(bigint, name) TO {MEMBER_ROLE};

GRANT SELECT, DELETE ON {SCHEMA}.members TO {MEMBER_ROLE};
GRANT INSERT (enc_key, sig_key, fingerprint, self_signature),
      UPDATE (enc_key, sig_key, fingerprint, self_signature, joined)
    ON {SCHEMA}.members TO {MEMBER_ROLE};
GRANT SELECT ON {SCHEMA}.members TO {DEFINER_ROLE};
GRANT SELECT ON {SCHEMA}.endorsements TO {MEMBER_ROLE};
GRANT INSERT (role, fingerprint, signature), DELETE ON {SCHEMA}.endorsements TO {ADMIN_ROLE};
GRANT SELECT, DELETE ON {SCHEMA}.wraps TO {MEMBER_ROLE};
GRANT INSERT (profile_id, role, fingerprint, key_id, wrap, signature)
    ON {SCHEMA}.wraps TO {MEMBER_ROLE};
GRANT INSERT (signer, signature), UPDATE (signer, signature) ON {SCHEMA}.profiles
    TO {MEMBER_ROLE};
GRANT DELETE ON {SCHEMA}.store_meta TO {ADMIN_ROLE};

ALTER TABLE {SCHEMA}.members ENABLE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.members FORCE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.endorsements ENABLE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.endorsements FORCE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.wraps ENABLE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.wraps FORCE ROW LEVEL SECURITY;

CREATE POLICY definer_reads ON {SCHEMA}.members FOR SELECT TO {DEFINER_ROLE} USING (true);
CREATE POLICY member_reads ON {SCHEMA}.members FOR SELECT TO {MEMBER_ROLE} USING (true);
CREATE POLICY member_joins ON {SCHEMA}.members FOR INSERT TO {MEMBER_ROLE}
    WITH CHECK (role = current_user);
CREATE POLICY member_rejoins ON {SCHEMA}.members FOR UPDATE TO {MEMBER_ROLE}
    USING (role = current_user) WITH CHECK (role = current_user);
CREATE POLICY member_leaves ON {SCHEMA}.members FOR DELETE TO {MEMBER_ROLE}
    USING (role = current_user OR {SCHEMA}.role_in(current_user, '{ADMIN_ROLE}'));

CREATE POLICY member_reads ON {SCHEMA}.endorsements FOR SELECT TO {MEMBER_ROLE}
    USING (true);
CREATE POLICY admin_endorses ON {SCHEMA}.endorsements FOR INSERT TO {ADMIN_ROLE}
    WITH CHECK (endorsed_by = current_user);
CREATE POLICY admin_withdraws ON {SCHEMA}.endorsements FOR DELETE TO {ADMIN_ROLE}
    USING (endorsed_by = current_user);

CREATE POLICY member_reads ON {SCHEMA}.wraps FOR SELECT TO {MEMBER_ROLE}
    USING (role = current_user OR {SCHEMA}.level(profile_id, current_user) >= 1);
CREATE POLICY member_wraps ON {SCHEMA}.wraps FOR INSERT TO {MEMBER_ROLE}
    WITH CHECK (wrapped_by = current_user AND {SCHEMA}.level(profile_id, current_user) >= 2);
CREATE POLICY member_unwraps ON {SCHEMA}.wraps FOR DELETE TO {MEMBER_ROLE}
    USING ({SCHEMA}.level(profile_id, current_user) >= 2);

CREATE TRIGGER bump_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {SCHEMA}.members FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.bump_changes();
CREATE TRIGGER bump_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {SCHEMA}.endorsements FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.bump_changes();
CREATE TRIGGER bump_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {SCHEMA}.wraps FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.bump_changes();
"""

# The store record under row-level security. Until this step any member could insert
# any row into store_meta: a stray `key_id` made `store upgrade` look for profiles to
# convert under a master key that never existed. Now a member may only create the store
# id (the first one to save does), an admin may only drop the old master key's record
# (the end of a conversion), and nobody changes a row. A master-key record with no
# profile under that key is removed here: it describes nothing (the count runs as the
# definer, which sees every profile; the schema's owner under forced security sees none).
_PG_V4: Final = f"""
CREATE FUNCTION {SCHEMA}.legacy_profiles() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*) FROM {SCHEMA}.profiles p WHERE p.signer IS NULL
$$;
ALTER FUNCTION {SCHEMA}.legacy_profiles() OWNER TO {DEFINER_ROLE};
REVOKE ALL ON FUNCTION {SCHEMA}.legacy_profiles() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {SCHEMA}.legacy_profiles() TO {MEMBER_ROLE};

DELETE FROM {SCHEMA}.store_meta
    WHERE key IN ('key_id', 'verifier') AND {SCHEMA}.legacy_profiles() = 0;

REVOKE UPDATE ON {SCHEMA}.store_meta FROM {ADMIN_ROLE};
ALTER TABLE {SCHEMA}.store_meta ENABLE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.store_meta FORCE ROW LEVEL SECURITY;
-- Who may read the table at all is still its privileges' decision (members).
CREATE POLICY readable ON {SCHEMA}.store_meta FOR SELECT USING (true);
CREATE POLICY member_creates_the_store ON {SCHEMA}.store_meta FOR INSERT TO {MEMBER_ROLE}
    WITH CHECK (key = 'store_id');
CREATE POLICY admin_drops_the_master_key ON {SCHEMA}.store_meta FOR DELETE TO {ADMIN_ROLE}
    USING (key IN ('key_id', 'verifier'));
"""

#: The schema version from which a team store has member keys and no master key.
PG_MEMBER_KEYS: Final = 3
#: ``POSTGRES`` with the member-key steps: the schema of every team store.
POSTGRES_MEMBER_KEYS: Final = (
    *POSTGRES,
    Migration(PG_MEMBER_KEYS, "member keys: per-profile data keys, wraps, signatures", _PG_V3),
    Migration(4, "the store record under row-level security: members create only its id", _PG_V4),
    Migration(
        5, "notebook access: allowances carry a MAC, the setting a signature", PG_SIGNED_ACCESS
    ),
)
#: The first team-store schema version whose allowances and setting are signed.
PG_SIGNED: Final = 5
