"""Every error zingy-nb raises, in one place.

Each class also inherits the builtin a caller would naturally catch (a missing profile
is a ``KeyError``, a refusal a ``PermissionError``), like ``keyring``'s errors do.
Messages say what was wrong and what to do next; none ever contains a secret value.
"""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound="ZingyError")


class ZingyError(Exception):
    """Base class of every error raised by zingy-nb."""

    #: Words of the message known not to be secrets (the name of a database role that
    #: exists), which the CLI shows even when they were typed on its command line.
    shown: tuple[str, ...] = ()

    def showing(self: E, *words: str) -> E:
        """This error, with ``words`` marked as safe to show (see ``shown``)."""
        self.shown = words
        return self

    def __str__(self) -> str:
        # KeyError's own __str__ would quote the message; keep it readable.
        return str(self.args[0]) if self.args else self.__class__.__name__

    def _render_traceback_(self) -> list[str]:
        """IPython's hook: the caller's frames and this message, not zingy-nb's own
        frames (``kernel.tracebacks``; ``%env ZINGY_NB_TRACEBACK=full`` shows them)."""
        from .kernel.tracebacks import render

        return render(self)


class InvalidProfileError(ZingyError, ValueError):
    """A profile name or secret value breaks the documented rules."""


class ProfileNotFoundError(ZingyError, KeyError):
    """No profile has the given name."""

    @classmethod
    def for_name(cls, name: str) -> ProfileNotFoundError:
        return cls(
            f"No API Key profile named {name!r}. "
            "List the saved ones with `%zingy_apikey list` or `zingy-nb profiles list`."
        )


class ProfileExistsError(ZingyError, ValueError):
    """A profile with the target name already exists."""


class ProfileAccessError(ZingyError, PermissionError):
    """A team store's access rules refuse this change to a profile the caller may see."""


class TeamRoleError(ProfileAccessError):
    """The database role cannot use a team store as a member: a superuser, or a role that
    is not in ``zingy_nb_member``."""

    @classmethod
    def superuser(cls, role: str, member_role: str) -> TeamRoleError:
        return cls(
            f"Role {role!r} is a PostgreSQL superuser, and a team store lets no superuser "
            "join, save or read as a member: superusers bypass row-level security, so the "
            "store's policies can neither protect nor describe what they read, and no "
            "profile is ever wrapped for them (a save of theirs would be one nobody can "
            "read). Connect as a dedicated role "
            f"that is a member of {member_role} instead: an admin creates one (`CREATE ROLE "
            f"NAME LOGIN PASSWORD ...; GRANT {member_role} TO NAME;`, docs/teams.md). "
            "Nothing was changed."
        )

    @classmethod
    def not_member(
        cls, role: str, quoted: str, location: str, why: str, member_role: str
    ) -> TeamRoleError:
        return cls(
            f"Role {role!r} is not a member of the team store at {location}: it is not in "
            f"the group role {member_role}, so the database refused this ({why}). An admin "
            f"of the database runs `GRANT {member_role} TO {quoted};`, then run this again."
        )


class LockoutError(ProfileAccessError):
    """A save refused because afterwards its writer, or a member who could read the
    profile until then, could not read it; nothing was changed."""


class CloudFlowOnlyError(ZingyError, PermissionError):
    """Retrieval was refused because this process is not a cloud-flow process."""


class NotebookAccessError(ZingyError, PermissionError):
    """A notebook was refused a profile: it was never allowed to read it.

    Allowing happens outside the notebook (``zingy-nb profiles allow``, the REST API or
    JupyterLab), so the message says how; a refusal is never remembered.
    """

    @classmethod
    def for_notebook(cls, name: str, notebook: str, why: str) -> NotebookAccessError:
        import shlex

        return cls(
            f"Notebook {notebook} may not read profile {name!r}: {why}. To allow it, run "
            f"`zingy-nb profiles allow {name} {shlex.quote(notebook)}` in a terminal, then "
            "run the cell again."
        )


class FlowModeError(ZingyError, ValueError):
    """A flow mode change that is not allowed (a mode never widens)."""


class UnknownCommandError(ZingyError, ValueError):
    """``zingyConn.execute`` was given a command the API Key service does not offer."""


class KeyUnavailableError(ZingyError, RuntimeError):
    """The master key could not be found, read or confirmed for this store."""


class StoreLockedError(KeyUnavailableError):
    """The store's key is locked with a passphrase and this process has not got it."""

    @classmethod
    def for_store(cls, where: str) -> StoreLockedError:
        return cls(
            f"The key of the store at {where} is locked with a passphrase. Unlock it with "
            "`zingy-nb unlock` in a terminal (or in JupyterLab's Unlock dialog), then try "
            "again; a headless run can set ZINGY_NB_MASTER_KEY instead."
        )

    @classmethod
    def for_member_key(cls, where: str) -> StoreLockedError:
        return cls(
            f"Your member key ({where}) is locked with a passphrase. Unlock it with "
            "`zingy-nb unlock` in a terminal (or in JupyterLab's Unlock dialog), then try "
            "again; a spawner can set ZINGY_NB_MEMBER_KEY instead."
        )


class PassphraseError(ZingyError, ValueError):
    """A passphrase that cannot protect a key (empty, too short, or typed differently
    twice); nothing was changed."""


class WrongPassphraseError(ZingyError, PermissionError):
    """A passphrase did not unwrap the store's locked key (the attempt is audited)."""


class DecryptionError(ZingyError):
    """A stored profile failed authentication.

    Deliberately opaque: it never says which check or byte failed.
    """

    def __init__(self, name: str | None = None) -> None:
        where = f"Profile {name!r}" if name else "A stored profile"
        super().__init__(
            f"{where} could not be decrypted: its stored data is damaged or was altered. "
            "Save the profile again to replace it, or restore the store from a backup."
        )


class StoreError(ZingyError, OSError):
    """The profile store cannot be opened or used safely."""


class UnsupportedStoreVersionError(StoreError):
    """The store was written by a newer zingy-nb; it is refused and never rewritten."""


class MemberKeyError(ZingyError, RuntimeError):
    """This member's key pair (team stores) is missing, unreadable or malformed."""


class SignatureError(ZingyError):
    """A signed team-store row failed verification.

    Deliberately opaque, like ``DecryptionError``: it never says which check failed.
    """

    def __init__(self, what: str = "A team-store row") -> None:
        super().__init__(
            f"{what} is not signed by a member key this process trusts: it was altered "
            "or written by someone else. Ask its owner to save it again; compare key "
            "fingerprints with `zingy-nb team members`."
        )


class UntrustedKeyError(ZingyError, PermissionError):
    """A member's public key changed since this member pinned it, or lacks an admin's
    endorsement; it is refused until confirmed with ``zingy-nb team trust``."""


class AgentUnavailableError(ZingyError, ConnectionError):
    """The zingy-nb agent that holds a store's keys is not running or stopped answering."""

    @classmethod
    def for_store(cls, where: str, why: str) -> AgentUnavailableError:
        return cls(
            f"The zingy-nb agent for the store at {where} is unavailable: {why}. Values a "
            "kernel already received stay usable; for new ones restart the kernel (its "
            "launcher starts the agent again), or run `zingy-nb agent` in a terminal."
        )


class WideningRefusedError(ZingyError, PermissionError):
    """A widening of access (allowing a notebook, turning the check off, exporting or
    importing a key, a grant) was asked by a kernel or a process a kernel started."""

    @classmethod
    def for_action(cls, what: str) -> WideningRefusedError:
        return cls(
            f"{what} widens access, which is never accepted from a Jupyter kernel or a "
            "process it started. Nothing was changed. Do it from a terminal outside "
            "Jupyter's kernels (a shell of yours, or a JupyterLab terminal), or in "
            "JupyterLab (the access dialog, the API Keys sidebar)."
        )
