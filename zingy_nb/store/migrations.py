"""Schema versions of both backends, and the steps between them.

Each backend's schema is a list of numbered migrations. A new store is created at the
latest version; an existing one is moved forward only by ``zingy-nb store upgrade``
(one transaction). A store whose version is newer than this code knows is refused,
never guessed at or rewritten.

SQLite keeps its version in ``PRAGMA user_version``; PostgreSQL in
``zingy_nb.schema_version``. Version 1 of SQLite is the schema of zingy-nb 0.1, and
zingy-nb keeps reading and writing it (and versions 2) until it is upgraded; a store
below the notebook-access version checks no notebook, and one below the signed-access
version (4) asks for every notebook: its rows carry no MAC (see ``zingy_nb.access``).

The notebook-access step records an allowance for every (profile, notebook) pair the
audit log already saw retrieving, so an upgrade locks no existing notebook out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..errors import StoreError, UnsupportedStoreVersionError

#: Group roles a PostgreSQL team store relies on (created by ``store upgrade``).
MEMBER_ROLE: Final = "zingy_nb_member"  # may use the store, as far as the policies allow
ADMIN_ROLE: Final = "zingy_nb_admin"  # every profile at manage level; may rotate the key
DEFINER_ROLE: Final = "zingy_nb_definer"  # NOLOGIN: owns the policy helper functions
SCHEMA: Final = "zingy_nb"
CHANGE_CHANNEL: Final = "zingy_nb_changed"


@dataclass(frozen=True)
class Migration:
    """One step: the statements that take a store from ``version - 1`` to ``version``."""

    version: int
    summary: str
    sql: str

    def statements(self) -> list[str]:
        """The SQLite statements (PostgreSQL runs ``sql`` as one script)."""
        return [s for s in self.sql.split(";") if s.strip()]


SQLITE: Final = (
    Migration(
        1,
        "profiles, the key record and the audit log",
        """
CREATE TABLE store_meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE profiles (
    name TEXT PRIMARY KEY,
    slots INTEGER NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    key_id TEXT NOT NULL,
    blob BLOB NOT NULL
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    profile TEXT NOT NULL,
    flow TEXT NOT NULL,
    outcome TEXT NOT NULL,
    process TEXT NOT NULL,
    kernel_id TEXT,
    notebook TEXT,
    first TEXT NOT NULL,
    last TEXT NOT NULL,
    count INTEGER NOT NULL,
    UNIQUE (profile, flow, outcome, process)
);
CREATE INDEX audit_last ON audit (last);
""",
    ),
    Migration(
        2,
        "the audit log records who (the OS user) retrieved",
        "ALTER TABLE audit ADD COLUMN role TEXT",
    ),
    Migration(
        3,
        "notebook access: allowances per profile and notebook; the audit log's runner",
        """
CREATE TABLE notebook_access (
    profile TEXT NOT NULL,
    notebook TEXT NOT NULL,
    how TEXT NOT NULL,
    created TEXT NOT NULL,
    moved_from TEXT,
    moved TEXT,
    PRIMARY KEY (profile, notebook)
);
CREATE INDEX notebook_access_notebook ON notebook_access (notebook);
ALTER TABLE audit ADD COLUMN via TEXT;
INSERT OR IGNORE INTO notebook_access (profile, notebook, how, created)
    SELECT DISTINCT a.profile, a.notebook, 'upgrade',
           strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')
    FROM audit a JOIN profiles p ON p.name = a.profile
    WHERE a.outcome = 'retrieved' AND a.notebook IS NOT NULL AND a.notebook <> ''
""",
    ),
    Migration(
        4,
        "notebook access: allowances and the setting carry the agent's MAC",
        """
ALTER TABLE notebook_access ADD COLUMN mac BLOB;
ALTER TABLE store_meta ADD COLUMN mac BLOB
""",
    ),
)
#: The first SQLite schema version that keeps notebook allowances and audit runners.
SQLITE_NOTEBOOKS: Final = 3
#: The first SQLite schema version whose allowances and setting are signed. Below it
#: every notebook is asked (nothing there is signed, so nothing counts).
SQLITE_SIGNED: Final = 4

_PG_V1: Final = f"""
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{MEMBER_ROLE}') THEN
        CREATE ROLE {MEMBER_ROLE} NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ADMIN_ROLE}') THEN
        CREATE ROLE {ADMIN_ROLE} NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{DEFINER_ROLE}') THEN
        CREATE ROLE {DEFINER_ROLE} NOLOGIN;
    END IF;
    IF NOT pg_has_role(current_user, '{DEFINER_ROLE}', 'MEMBER') THEN
        EXECUTE format('GRANT {DEFINER_ROLE} TO %I', current_user);
    END IF;
END
$roles$;
GRANT {MEMBER_ROLE} TO {ADMIN_ROLE};

CREATE SCHEMA {SCHEMA};
REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC;
GRANT USAGE ON SCHEMA {SCHEMA} TO {MEMBER_ROLE}, {DEFINER_ROLE};
GRANT CREATE ON SCHEMA {SCHEMA} TO {DEFINER_ROLE};

CREATE TABLE {SCHEMA}.schema_version (version integer NOT NULL);
CREATE TABLE {SCHEMA}.store_meta (key text PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE {SCHEMA}.changes (
    id integer PRIMARY KEY CHECK (id = 1),
    counter bigint NOT NULL,
    last_txid bigint
);
INSERT INTO {SCHEMA}.changes VALUES (1, 0, NULL);
CREATE TABLE {SCHEMA}.profiles (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    owner name NOT NULL DEFAULT current_user,
    slots integer NOT NULL,
    created timestamptz NOT NULL,
    updated timestamptz NOT NULL,
    key_id text NOT NULL,
    blob bytea NOT NULL
);
CREATE TABLE {SCHEMA}.grants (
    profile_id bigint NOT NULL REFERENCES {SCHEMA}.profiles (id) ON DELETE CASCADE,
    grantee name NOT NULL,
    level smallint NOT NULL CHECK (level BETWEEN 1 AND 3),
    granted_by name NOT NULL DEFAULT current_user,
    granted timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_id, grantee)
);
CREATE TABLE {SCHEMA}.audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile text NOT NULL,
    flow text NOT NULL,
    outcome text NOT NULL,
    process text NOT NULL,
    role name NOT NULL DEFAULT current_user,
    kernel_id text,
    notebook text,
    first timestamptz NOT NULL,
    last timestamptz NOT NULL,
    count bigint NOT NULL,
    UNIQUE (profile, flow, outcome, process, role)
);
CREATE INDEX audit_last ON {SCHEMA}.audit (last);

-- Is role `who` (or a role it belongs to) `target`? False, not an error, for a
-- dropped role.
CREATE FUNCTION {SCHEMA}.role_in(who name, target name) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_roles r
                   WHERE r.rolname = target AND pg_has_role(who, r.oid, 'MEMBER'))
$$;

-- The level (0 none, 1 read, 2 write, 3 manage) role `who` has on profile `pid`.
-- SECURITY DEFINER, owned by the NOLOGIN definer role whose own policies let it read
-- profiles and grants, so policies that call it never recurse. It answers only for
-- the session's own roles, so it cannot be used to probe other members' access.
CREATE FUNCTION {SCHEMA}.level(pid bigint, who name) RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    profile_owner name;
BEGIN
    IF NOT pg_has_role(session_user, who, 'MEMBER') THEN
        RETURN 0;
    END IF;
    SELECT p.owner INTO profile_owner FROM {SCHEMA}.profiles p WHERE p.id = pid;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    IF {SCHEMA}.role_in(who, profile_owner) OR {SCHEMA}.role_in(who, '{ADMIN_ROLE}') THEN
        RETURN 3;
    END IF;
    RETURN coalesce((SELECT max(g.level) FROM {SCHEMA}.grants g
                     WHERE g.profile_id = pid AND {SCHEMA}.role_in(who, g.grantee)), 0);
END
$$;

CREATE FUNCTION {SCHEMA}.level_by_name(pname text, who name) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT {SCHEMA}.level(p.id, who) FROM {SCHEMA}.profiles p
                     WHERE p.name = pname), 0)
$$;

-- Rows under another key than `key_id`, counted across every profile (a rotation
-- must have re-encrypted them all before the store's key record changes).
CREATE FUNCTION {SCHEMA}.rows_not_under(key_id text) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*) FROM {SCHEMA}.profiles p WHERE p.key_id <> rows_not_under.key_id
$$;

CREATE FUNCTION {SCHEMA}.audit_prune(max_age interval, max_entries integer) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM {SCHEMA}.audit WHERE last < now() - max_age;
    DELETE FROM {SCHEMA}.audit WHERE id NOT IN
        (SELECT id FROM {SCHEMA}.audit ORDER BY last DESC LIMIT max_entries);
$$;

-- Every committed transaction that changes profiles, grants or the key record bumps
-- one counter (what change_token() reads) once, and notifies listeners. Once: updating
-- the same row for every statement of a big transaction (a rotation, a bulk import)
-- would pile up row versions and grow quadratically.
CREATE FUNCTION {SCHEMA}.bump_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE {SCHEMA}.changes SET counter = counter + 1, last_txid = txid_current()
        WHERE id = 1 AND last_txid IS DISTINCT FROM txid_current();
    IF FOUND THEN
        PERFORM pg_notify('{CHANGE_CHANNEL}', '');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER bump_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {SCHEMA}.profiles FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.bump_changes();
CREATE TRIGGER bump_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {SCHEMA}.grants FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.bump_changes();
CREATE TRIGGER bump_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {SCHEMA}.store_meta FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.bump_changes();

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {SCHEMA} FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {SCHEMA}.role_in(name, name), {SCHEMA}.level(bigint, name),
    {SCHEMA}.level_by_name(text, name), {SCHEMA}.rows_not_under(text),
    {SCHEMA}.audit_prune(interval, integer) TO {MEMBER_ROLE};
GRANT EXECUTE ON FUNCTION {SCHEMA}.role_in(name, name), {SCHEMA}.level(bigint, name)
    TO {DEFINER_ROLE};

-- Privileges: what a role may attempt; the policies below decide on which rows.
GRANT SELECT ON {SCHEMA}.schema_version TO {MEMBER_ROLE};
GRANT SELECT, INSERT ON {SCHEMA}.store_meta TO {MEMBER_ROLE};
GRANT UPDATE ON {SCHEMA}.store_meta TO {ADMIN_ROLE};
GRANT SELECT, UPDATE ON {SCHEMA}.changes TO {MEMBER_ROLE}, {DEFINER_ROLE};
GRANT SELECT, DELETE ON {SCHEMA}.profiles TO {MEMBER_ROLE};
GRANT INSERT (name, slots, created, updated, key_id, blob),
      UPDATE (name, slots, created, updated, key_id, blob) ON {SCHEMA}.profiles TO {MEMBER_ROLE};
GRANT SELECT, DELETE ON {SCHEMA}.grants TO {MEMBER_ROLE};
GRANT INSERT (profile_id, grantee, level), UPDATE (level, granted_by, granted)
    ON {SCHEMA}.grants TO {MEMBER_ROLE};
GRANT SELECT ON {SCHEMA}.audit TO {MEMBER_ROLE};
GRANT INSERT (profile, flow, outcome, process, kernel_id, notebook, first, last, count),
      UPDATE (last, count) ON {SCHEMA}.audit TO {MEMBER_ROLE};
GRANT SELECT ON {SCHEMA}.profiles, {SCHEMA}.grants TO {DEFINER_ROLE};
GRANT SELECT, DELETE ON {SCHEMA}.audit TO {DEFINER_ROLE};

ALTER TABLE {SCHEMA}.profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.profiles FORCE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.grants FORCE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.audit FORCE ROW LEVEL SECURITY;

CREATE POLICY definer_reads ON {SCHEMA}.profiles FOR SELECT TO {DEFINER_ROLE} USING (true);
CREATE POLICY member_reads ON {SCHEMA}.profiles FOR SELECT TO {MEMBER_ROLE}
    USING ({SCHEMA}.level(id, current_user) >= 1);
CREATE POLICY member_creates ON {SCHEMA}.profiles FOR INSERT TO {MEMBER_ROLE}
    WITH CHECK (owner = current_user);
CREATE POLICY member_writes ON {SCHEMA}.profiles FOR UPDATE TO {MEMBER_ROLE}
    USING ({SCHEMA}.level(id, current_user) >= 2)
    WITH CHECK ({SCHEMA}.level(id, current_user) >= 2);
CREATE POLICY member_deletes ON {SCHEMA}.profiles FOR DELETE TO {MEMBER_ROLE}
    USING ({SCHEMA}.level(id, current_user) >= 2);

CREATE POLICY definer_reads ON {SCHEMA}.grants FOR SELECT TO {DEFINER_ROLE} USING (true);
CREATE POLICY member_reads ON {SCHEMA}.grants FOR SELECT TO {MEMBER_ROLE}
    USING ({SCHEMA}.role_in(current_user, grantee)
           OR {SCHEMA}.level(profile_id, current_user) >= 3);
CREATE POLICY member_grants ON {SCHEMA}.grants FOR INSERT TO {MEMBER_ROLE}
    WITH CHECK ({SCHEMA}.level(profile_id, current_user) >= 3);
CREATE POLICY member_regrants ON {SCHEMA}.grants FOR UPDATE TO {MEMBER_ROLE}
    USING ({SCHEMA}.level(profile_id, current_user) >= 3)
    WITH CHECK ({SCHEMA}.level(profile_id, current_user) >= 3);
CREATE POLICY member_revokes ON {SCHEMA}.grants FOR DELETE TO {MEMBER_ROLE}
    USING ({SCHEMA}.level(profile_id, current_user) >= 3);

CREATE POLICY definer_prunes ON {SCHEMA}.audit FOR ALL TO {DEFINER_ROLE} USING (true);
CREATE POLICY member_reads ON {SCHEMA}.audit FOR SELECT TO {MEMBER_ROLE}
    USING (role = current_user OR {SCHEMA}.level_by_name(profile, current_user) >= 1);
CREATE POLICY member_records ON {SCHEMA}.audit FOR INSERT TO {MEMBER_ROLE}
    WITH CHECK (role = current_user);
CREATE POLICY member_merges ON {SCHEMA}.audit FOR UPDATE TO {MEMBER_ROLE}
    USING (role = current_user) WITH CHECK (role = current_user);

ALTER FUNCTION {SCHEMA}.level(bigint, name) OWNER TO {DEFINER_ROLE};
ALTER FUNCTION {SCHEMA}.level_by_name(text, name) OWNER TO {DEFINER_ROLE};
ALTER FUNCTION {SCHEMA}.rows_not_under(text) OWNER TO {DEFINER_ROLE};
ALTER FUNCTION {SCHEMA}.audit_prune(interval, integer) OWNER TO {DEFINER_ROLE};
ALTER FUNCTION {SCHEMA}.bump_changes() OWNER TO {DEFINER_ROLE};
INSERT INTO {SCHEMA}.schema_version VALUES (1);
"""

# Allowances are per profile, database role and notebook: a role reads and writes its
# own, a manager of the profile sees (and may remove) all. The store-wide setting may be
# changed by admins only. Both tables bump the change counter like any write.
_PG_V2: Final = f"""
ALTER TABLE {SCHEMA}.audit ADD COLUMN via text;
GRANT INSERT (via) ON {SCHEMA}.audit TO {MEMBER_ROLE};

CREATE TABLE {SCHEMA}.settings (key text PRIMARY KEY, value text NOT NULL);
GRANT SELECT ON {SCHEMA}.settings TO {MEMBER_ROLE};
GRANT INSERT, UPDATE ON {SCHEMA}.settings TO {ADMIN_ROLE};
CREATE TRIGGER bump_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {SCHEMA}.settings FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.bump_changes();

CREATE TABLE {SCHEMA}.notebook_access (
    profile_id bigint NOT NULL REFERENCES {SCHEMA}.profiles (id) ON DELETE CASCADE,
    role name NOT NULL DEFAULT current_user,
    notebook text NOT NULL,
    how text NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    moved_from text,
    moved timestamptz,
    PRIMARY KEY (profile_id, role, notebook)
);
CREATE INDEX notebook_access_notebook ON {SCHEMA}.notebook_access (role, notebook);
-- Before row-level security is on: the schema's owner copies every member's pairs.
INSERT INTO {SCHEMA}.notebook_access (profile_id, role, notebook, how)
    SELECT DISTINCT p.id, a.role, a.notebook, 'upgrade'
    FROM {SCHEMA}.audit a JOIN {SCHEMA}.profiles p ON p.name = a.profile
    WHERE a.outcome = 'retrieved' AND a.notebook IS NOT NULL AND a.notebook <> '';
GRANT SELECT, DELETE ON {SCHEMA}.notebook_access TO {MEMBER_ROLE};
GRANT INSERT (profile_id, notebook, how), UPDATE (notebook, moved_from, moved)
    ON {SCHEMA}.notebook_access TO {MEMBER_ROLE};
ALTER TABLE {SCHEMA}.notebook_access ENABLE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.notebook_access FORCE ROW LEVEL SECURITY;
CREATE POLICY member_reads ON {SCHEMA}.notebook_access FOR SELECT TO {MEMBER_ROLE}
    USING (role = current_user OR {SCHEMA}.level(profile_id, current_user) >= 3);
CREATE POLICY member_allows ON {SCHEMA}.notebook_access FOR INSERT TO {MEMBER_ROLE}
    WITH CHECK (role = current_user AND {SCHEMA}.level(profile_id, current_user) >= 1);
CREATE POLICY member_moves ON {SCHEMA}.notebook_access FOR UPDATE TO {MEMBER_ROLE}
    USING (role = current_user) WITH CHECK (role = current_user);
CREATE POLICY member_disallows ON {SCHEMA}.notebook_access FOR DELETE TO {MEMBER_ROLE}
    USING (role = current_user OR {SCHEMA}.level(profile_id, current_user) >= 3);
CREATE TRIGGER bump_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {SCHEMA}.notebook_access FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.bump_changes();
"""

POSTGRES: Final = (
    Migration(1, "profiles with owners and grants under row-level security, audit", _PG_V1),
    Migration(2, "notebook access: allowances per profile, role and notebook; settings", _PG_V2),
)

# Allowances carry their member's MAC; the store-wide setting its admin's signature.
# A member may write only the MAC of an allowance of their own (the policies above).
PG_SIGNED_ACCESS: Final = f"""
ALTER TABLE {SCHEMA}.notebook_access ADD COLUMN mac bytea;
GRANT INSERT (mac), UPDATE (mac) ON {SCHEMA}.notebook_access TO {MEMBER_ROLE};
ALTER TABLE {SCHEMA}.settings ADD COLUMN mac bytea;
"""


def latest(migrations: tuple[Migration, ...]) -> int:
    return migrations[-1].version


def pending(migrations: tuple[Migration, ...], current: int) -> list[Migration]:
    """The steps after ``current``, in order."""
    return [m for m in migrations if m.version > current]


def check_known(version: int, migrations: tuple[Migration, ...], location: str) -> None:
    """Refuse a store written by a newer zingy-nb: never guess at its schema."""
    if version > latest(migrations):
        raise UnsupportedStoreVersionError(
            f"The store at {location} has schema version {version}, newer than this "
            f"zingy-nb understands ({latest(migrations)}). It is left untouched: upgrade "
            "zingy-nb (build and install the newer wheel, README: Install) to use it."
        )
    if version < 1:
        raise StoreError(f"The store at {location} has an invalid schema version {version}.")
