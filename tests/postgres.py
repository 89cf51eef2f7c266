"""A throwaway PostgreSQL server for the team-store tests, and a fixture that runs a
test against both backends.

The server is started once per session with ``initdb`` / ``pg_ctl`` from Debian's
PostgreSQL (``pg_config --bindir``), password authentication (scram) and a unix socket
in its own temporary folder, never a TCP port; as root it runs as the ``postgres`` OS
user, since PostgreSQL refuses root. Its roles (made-up passwords):

- ``postgres``: superuser, used only to set up and to inspect raw storage;
- ``team_admin``: owns each test database and runs ``zingy-nb store upgrade``
  (CREATEROLE, not a superuser);
- ``alice``, ``bob``, ``carol``: members (``zingy_nb_member``), neither superusers
  nor owners of anything;
- ``dana``: a member of ``zingy_nb_admin`` (reads every profile, converts a store).

Test modules import the fixtures they use (``from tests.postgres import ...``); the
server is shared by all of them and stopped when the last one is done.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from zingy_nb.paths import HOME_ENV, MEMBER_KEY_ENV
from zingy_nb.profiles import Profiles
from zingy_nb.store.url import URL_ENV
from zingy_nb.vault.crypto import encode_key, new_key
from zingy_nb.vault.custody import ENV_VAR as KEY_ENV

SUPERUSER_PASSWORD = "made-up-superuser-pw-1"
PASSWORDS = {
    "team_admin": "made-up-admin-pw-2",
    "alice": "made-up-alice-pw-3",
    "bob": "made-up-bob-pw-4",
    "carol": "made-up-carol-pw-5",
    "dana": "made-up-dana-pw-6",
}
MEMBERS = ("alice", "bob", "carol", "dana")
MISSING = (
    "PostgreSQL is not installed here (initdb / pg_ctl not found). The team-store tests "
    "need it: run `.ci/run` (or `bash scripts/bootstrap.sh --system`), which installs "
    "the Debian `postgresql` package."
)


def _bindir() -> Path:
    try:
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(out) / "initdb").exists():
            return Path(out)
    except (OSError, subprocess.CalledProcessError):
        pass
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if debian:
        return debian[-1].parent
    pytest.fail(MISSING, pytrace=False)


@dataclass
class PgServer:
    """A running throwaway server; ``url`` builds a connection URL for a role."""

    bindir: Path
    root: Path
    port: int
    as_postgres: bool
    _dbs: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def socket_dir(self) -> str:
        return str(self.root)

    def url(self, role: str, db: str = "postgres", *, password: str | None = None) -> str:
        pw = password if password is not None else PASSWORDS.get(role, SUPERUSER_PASSWORD)
        return f"postgresql://{role}:{pw}@/{db}?host={self.socket_dir}&port={self.port}"

    def run(self, *argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)

    def sql(self, statement: str, *, db: str = "postgres", role: str = "postgres") -> list[tuple]:
        """Run one statement (autocommit) and return its rows, if any."""
        import psycopg

        with psycopg.connect(self.url(role, db), autocommit=True) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []

    def new_database(
        self,
        *,
        shared_key: bool = False,
        members: Sequence[str] = MEMBERS,
        admins: Sequence[str] = ("dana",),
    ) -> str:
        """A fresh database owned by ``team_admin``, with the zingy-nb schema in it (the
        member-key schema; with ``shared_key`` the schema before member keys, version 2,
        as the previous zingy-nb made it); ``members`` may connect and are members,
        ``admins`` are in zingy_nb_admin. Nobody has joined yet (``join``)."""
        from zingy_nb.store.postgres import PostgresStore
        from zingy_nb.store.postgres_members import MemberKeyStore

        db = f"{'shared' if shared_key else 'team'}{next(self._dbs)}"
        self.sql(f"CREATE DATABASE {db} OWNER team_admin")
        self.sql(f"REVOKE ALL ON DATABASE {db} FROM PUBLIC")
        self.sql(f"GRANT CONNECT ON DATABASE {db} TO {', '.join(members)}")
        store = PostgresStore if shared_key else MemberKeyStore
        owner = store(self.url("team_admin", db))
        try:
            owner.upgrade()
        finally:
            owner.close()
        self.sql(f"GRANT zingy_nb_member TO {', '.join(members)}")
        for admin in admins:
            self.sql(f"GRANT zingy_nb_admin TO {admin}")
        return db

    def join(self, db: str, home: Path, roles: Sequence[str] = MEMBERS) -> dict[str, str]:
        """Each of ``roles`` runs ``zingy-nb team join`` from ``home`` (one 0600 key file
        per role there, as on a machine without a keyring, unless ``ZINGY_NB_MEMBER_KEY``
        is set); returns their private keys, as text, for a process that gets its key
        from ``ZINGY_NB_MEMBER_KEY``."""
        from zingy_nb.vault.member_custody import MemberKeyLocator

        keys = {}
        for role in roles:
            profiles = Profiles(home, url=self.url(role, db))
            try:
                assert profiles.vault is not None
                profiles.vault.join()
            finally:
                profiles.store.close()
            found = MemberKeyLocator(home, role).load()
            assert found is not None
            keys[role] = found.pair.encode()
        return keys

    def restore(self, db: str, dump: Path) -> None:
        """Load a plain ``pg_dump`` file into the empty database ``db``, as the superuser
        (a DBA restoring a backup); the roles it names must exist."""
        result = self.run(
            "psql", "-h", self.socket_dir, "-p", str(self.port), "-U", "postgres", "-d", db,
            "-v", "ON_ERROR_STOP=1", "-q", "-f", "-",
            input=dump.read_text(), env={**os.environ, "PGPASSWORD": SUPERUSER_PASSWORD},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr

    def drop_database(self, db: str) -> None:
        """Drop a test database, hanging up whoever is still connected to it."""
        self.sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

    def dump(self, db: str) -> bytes:
        """``pg_dump`` of a whole database, as the superuser: what a DBA can see."""
        result = self.run(
            "pg_dump", "-h", self.socket_dir, "-p", str(self.port), "-U", "postgres", db,
            env={**os.environ, "PGPASSWORD": SUPERUSER_PASSWORD},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.encode()

    def data_files(self) -> Iterator[tuple[Path, bytes]]:
        """Every file of the cluster (after a checkpoint): tables, WAL, everything."""
        self.sql("CHECKPOINT")
        for path in sorted((self.root / "data").rglob("*")):
            if path.is_file():
                yield path, path.read_bytes()


_shared: dict[str, Any] = {"server": None, "users": 0}


def new_cluster(
    port: int, *, listen: str = "", prefix: str = "zingy-pg-", settings: str = ""
) -> PgServer:
    """A new, running cluster: only the ``postgres`` superuser (password
    ``SUPERUSER_PASSWORD``, scram), on a socket in its own folder and on ``listen``."""
    bindir = _bindir()
    as_postgres = os.geteuid() == 0
    # Not under TMPDIR: as root that folder is 0700 and the postgres user could not
    # reach its socket; a short path also keeps the socket under the 107-byte limit.
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    pwfile = root / "pw"
    pwfile.write_text(SUPERUSER_PASSWORD + "\n")
    if as_postgres:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    server = PgServer(bindir, root, port, as_postgres)
    result = server.run(
        "initdb", "-D", str(root / "data"), "-U", "postgres", "--auth=scram-sha-256",
        f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8", "--locale=C",
    )  # fmt: skip
    if result.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed: {result.stderr}", pytrace=False)
    options = f"-k {root} -p {port} -c listen_addresses='{listen}' -c fsync=off {settings}"
    result = server.run(
        "pg_ctl", "-D", str(root / "data"), "-o", options, "-l", str(root / "log"), "-w",
        "start",
    )  # fmt: skip
    if result.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {result.stderr}\n{log}", pytrace=False)
    return server


def _start() -> PgServer:
    server = new_cluster(5432, settings="-c max_connections=200 -c shared_buffers=32MB")
    try:
        server.sql(f"CREATE ROLE team_admin LOGIN CREATEROLE PASSWORD '{PASSWORDS['team_admin']}'")
        for role in MEMBERS:
            server.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORDS[role]}'")
    except BaseException:
        stop_cluster(server)
        raise
    return server


def stop_cluster(server: PgServer) -> None:
    try:
        server.run("pg_ctl", "-D", str(server.root / "data"), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server (fails, never skips, when PostgreSQL is missing)."""
    if _shared["server"] is None:
        _shared["server"] = _start()
    _shared["users"] += 1
    try:
        yield _shared["server"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            server, _shared["server"] = _shared["server"], None
            stop_cluster(server)


@pytest.fixture
def team_db(pg_server: PgServer) -> Iterator[str]:
    """A fresh database with the zingy-nb schema, for one test (dropped after it)."""
    db = pg_server.new_database()
    yield db
    pg_server.drop_database(db)


@dataclass
class Backend:
    """One store backend under test, as the API and the raw storage see it.

    The embedded store has a master key (``key``); a team store has none, only each
    member's own key (``member_keys``, by role: every member has joined).
    """

    kind: str  # "sqlite" or "postgres"
    home: Path
    key: str | None
    server: PgServer | None = None
    db: str | None = None
    member_keys: dict[str, str] = field(default_factory=dict)

    def url(self, role: str = "alice") -> str | None:
        if self.server is None:
            return None
        return self.server.url(role, self.db or "postgres")

    def profiles(self, role: str = "alice") -> Profiles:
        return Profiles(self.home, url=self.url(role) or "")

    def env(self, role: str = "alice") -> dict[str, str]:
        """What a process needs to use this store as ``role``: the embedded store's master
        key, or the member's own key (as a spawner gives it), never both."""
        env = {HOME_ENV: str(self.home), URL_ENV: self.url(role) or ""}
        if self.key is not None:
            env[KEY_ENV] = self.key
        if role in self.member_keys:
            env[MEMBER_KEY_ENV] = self.member_keys[role]
        return env

    def raw_rows(self) -> list[tuple[str, bytes]]:
        """(name, blob) of every stored profile, read around zingy-nb."""
        if self.server is None:
            import sqlite3

            conn = sqlite3.connect(self.home / "profiles.db")
            try:
                rows = conn.execute("SELECT name, blob FROM profiles ORDER BY name").fetchall()
            finally:
                conn.close()
            return [(n, bytes(b)) for n, b in rows]
        assert self.db is not None
        return [
            (n, bytes(b))
            for n, b in self.server.sql(
                "SELECT name, blob FROM zingy_nb.profiles ORDER BY name", db=self.db
            )
        ]

    def tables(self) -> dict[str, list[tuple]]:
        """Every row of every table of the store, read around zingy-nb (the SQLite file,
        or the schema as the superuser), for "this changed nothing" checks. Empty before
        the store exists; never creates it."""
        if self.server is None:
            import sqlite3

            path = self.home / "profiles.db"
            if not path.exists():
                return {}
            conn = sqlite3.connect(path)
            try:
                names = [
                    n
                    for (n,) in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                    )
                ]
                found = {n: conn.execute(f'SELECT * FROM "{n}"').fetchall() for n in names}
            finally:
                conn.close()
        else:
            assert self.db is not None
            names = [
                n
                for (n,) in self.server.sql(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'zingy_nb' "
                    "ORDER BY tablename",
                    db=self.db,
                )
            ]
            found = {n: self.server.sql(f"SELECT * FROM zingy_nb.{n}", db=self.db) for n in names}
        return {n: sorted((_plain(r) for r in rows), key=repr) for n, rows in found.items()}

    def stored_bytes(self) -> Iterator[tuple[str, bytes]]:
        """Everything the store keeps, as bytes: files, or a dump plus the cluster files."""
        if self.server is None:
            for path in sorted(self.home.rglob("*")):
                if path.is_file():
                    yield path.name, path.read_bytes()
            return
        assert self.db is not None
        yield "pg_dump", self.server.dump(self.db)
        for path, data in self.server.data_files():
            yield str(path.relative_to(self.server.root)), data


def _plain(row: tuple) -> tuple:
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    """The same test on the embedded store and on a team store (as member ``alice``).

    The embedded store's master key comes from ``ZINGY_NB_MASTER_KEY``; on the team store
    no master key exists: every member has joined, their keys in files in the home.
    """
    home = tmp_path / "zingy"
    monkeypatch.setenv(HOME_ENV, str(home))
    monkeypatch.delenv(MEMBER_KEY_ENV, raising=False)
    if request.param == "sqlite":
        key = encode_key(new_key())
        monkeypatch.setenv(KEY_ENV, key)
        monkeypatch.delenv(URL_ENV, raising=False)
        yield Backend("sqlite", home, key)
        return
    monkeypatch.delenv(KEY_ENV, raising=False)
    server: PgServer = request.getfixturevalue("pg_server")
    db = server.new_database()
    backend = Backend("postgres", home, None, server, db, server.join(db, home))
    monkeypatch.setenv(URL_ENV, backend.url("alice") or "")
    yield backend
    server.drop_database(db)


def cli_as(
    url_of: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., tuple[int, str, str]]:
    """``cli(role, *argv)``: the ``zingy-nb`` command run in this process as database role
    ``role`` (its URL from ``url_of``), on a fresh ``Profiles``; (exit code, out, err)."""
    from zingy_nb import profiles as profiles_module
    from zingy_nb.cli import main

    def cli(role: str, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setenv(URL_ENV, url_of(role))
        profiles_module._instances.clear()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return cli


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


class MemoryKeyring:
    """A keyring backend that lives in this process only (for rotation tests).

    The thing under test is the store; this stands in for the OS keyring the way
    keyring's own test backends do.
    """

    priority = 1

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    @property
    def name(self) -> str:
        return "memory keyring (tests)"

    def get_password(self, service: str, user: str) -> str | None:
        return self.entries.get((service, user))

    def set_password(self, service: str, user: str, password: str) -> None:
        self.entries[(service, user)] = password

    def delete_password(self, service: str, user: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.entries.pop((service, user), None) is None:
            raise PasswordDeleteError(user)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Make keyring use a ``MemoryKeyring`` for this test."""
    import keyring
    from keyring.backend import KeyringBackend

    backend_cls = type("TestMemoryKeyring", (MemoryKeyring, KeyringBackend), {})
    previous = keyring.get_keyring()
    backend = backend_cls()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
