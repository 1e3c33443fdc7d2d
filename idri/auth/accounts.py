"""Accounts: who may sign in to the API, with which role, and the tokens that say so.

:class:`AccountStore` is synchronous (SQLModel sessions over the registry's engine): the API
calls it in a thread. Every change writes one line of the accounts' audit trail
(``account_events``) in the same transaction. What the store does not decide: who may manage
accounts (the API lets admins only), and what a role may do on a case (``models.permissions``).

Secrets stay out of the database, the audit trail and the logs: a password is kept as its
argon2 hash, a token as its SHA-256 digest and is returned once, by the call that made it.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine, exc, text
from sqlmodel import Session, col, select

from activities.db import read_session, write_session
from activities.tables import utcnow
from idri.auth import audit, throttle, tokens
from idri.auth.audit import SYSTEM, AccountEvent, AuditEntry
from idri.auth.errors import (
    AccountError,
    AccountExists,
    AccountNotFound,
    SignInRefused,
    SignInThrottled,
)
from idri.auth.passwords import Passwords
from idri.auth.rules import (
    PASSWORD_MAX,
    AccountRole,
    account_fields,
    check_password,
    normal_name,
)
from idri.auth.tables import AccountRow, TokenRow

log = structlog.get_logger("idri.auth")


@dataclass(frozen=True)
class Account:
    """An account as the API sees it (no hash, no throttle)."""

    name: str
    role: AccountRole
    district: str | None
    """A district code, for a district officer; None for every other role."""
    organisation: str | None
    email: str | None
    enabled: bool
    created_at: datetime

    @classmethod
    def of(cls, row: AccountRow) -> Account:
        return cls(
            name=row.name,
            role=AccountRole(row.role),
            district=row.district,
            organisation=row.organisation,
            email=row.email,
            enabled=row.enabled,
            created_at=row.created_at,
        )


class AccountStore:
    """The accounts in the registry database at ``engine`` (migrated to 0006 or later).

    Args:
        engine: the registry's engine (``activities.db.create_registry_engine``).
        token_lifetime: how long a new token is valid (``IDRI_TOKEN_DAYS``).
        now: the clock, aware UTC; tests move it instead of sleeping.
        passwords: the hasher; argon2's recommended parameters by default.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        token_lifetime: timedelta = timedelta(days=90),
        now: Callable[[], datetime] = utcnow,
        passwords: Passwords | None = None,
    ) -> None:
        if token_lifetime <= timedelta(0):
            raise ValueError(f"token_lifetime must be positive, not {token_lifetime}")
        self._engine = engine
        self._lifetime = token_lifetime
        self._now = now
        self._passwords = passwords or Passwords()
        self._unknown = throttle.UnknownNames()

    # --- Accounts --------------------------------------------------------------------------------

    def add(
        self,
        by: str,
        name: str,
        role: AccountRole,
        *,
        district: str | None = None,
        organisation: str | None = None,
        email: str | None = None,
        password: str | None = None,
    ) -> tuple[Account, str]:
        """Create an account; return it and its first token (shown once).

        Raises:
            AccountError: a field is refused (the sentence says which and why).
            AccountExists: an account of that name exists (enabled or not).
        """
        fields = account_fields(
            name, role, district=district, organisation=organisation, email=email
        )
        password_hash = None if password is None else self._passwords.hash(check_password(password))
        now = self._now()
        row = AccountRow(
            name=fields.name,
            role=fields.role.value,
            district=fields.district,
            organisation=fields.organisation,
            email=fields.email,
            password_hash=password_hash,
            created_at=now,
            created_by=by,
        )
        details = {
            "role": fields.role.value,
            **{k: v for k in ("district", "organisation", "email") if (v := getattr(fields, k))},
            "password": "set" if password_hash else "none",
        }
        try:
            with write_session(self._engine) as session:
                if session.get(AccountRow, fields.name) is not None:
                    raise _exists(fields.name)
                session.add(row)
                session.flush()
                audit.record(session, now, by, fields.name, AccountEvent.CREATED, details)
                token = self._issue(session, now, by, fields.name, via="created")
                account = Account.of(row)
        except exc.IntegrityError:  # added at the same moment by another process
            raise _exists(fields.name) from None
        log.info("account created", account=account.name, role=account.role.value, by=by)
        return account, token

    def get(self, name: str) -> Account:
        """The account called ``name``; :class:`AccountNotFound` if there is none."""
        with read_session(self._engine) as session:
            return Account.of(_row(session, name))

    def list(self) -> builtins.list[Account]:
        """Every account, enabled or not, by name."""
        with read_session(self._engine) as session:
            rows = session.exec(select(AccountRow).order_by(col(AccountRow.name))).all()
            return [Account.of(r) for r in rows]

    def disable(self, by: str, name: str) -> Account:
        """Disable ``name`` and revoke its tokens: its next request is refused.

        Disabling a disabled account changes nothing. The last enabled admin cannot be disabled
        (nobody could manage accounts any more): :class:`AccountError`.
        """
        now = self._now()
        is_admin = self.get(name).role is AccountRole.ADMIN  # a role never changes
        with write_session(self._engine) as session:
            # An admin's disabling locks every enabled admin first (in one order, so two admins
            # disabling each other wait rather than deadlock): the count below stays true.
            admins = _enabled_admins(session) if is_admin else []
            row = _row(session, name, for_update=True)
            if not row.enabled:
                return Account.of(row)
            if row.role == AccountRole.ADMIN.value and len(admins) <= 1:
                raise AccountError(
                    f"{row.name} is the last enabled admin: add another admin before disabling it"
                )
            row.enabled = False
            row.disabled_at = now
            row.disabled_by = by
            session.add(row)
            revoked = _revoke_all(session, row.name, now)
            audit.record(
                session, now, by, row.name, AccountEvent.DISABLED, {"tokens_revoked": revoked}
            )
            account = Account.of(row)
        log.info("account disabled", account=account.name, by=by, tokens_revoked=revoked)
        return account

    def ensure_first_admin(self, name: str = "admin") -> str | None:
        """On an empty accounts table, create an admin called ``name`` and return its token.

        With any account present (enabled or not), return None: the first admin is made once,
        also when several processes start together (the table is locked while it is made).
        The admin has no password; it acts with the token (``idri up`` writes it to
        ``<data dir>/admin.token``).
        """
        fields = account_fields(name, AccountRole.ADMIN)
        now = self._now()
        with write_session(self._engine) as session:
            if session.get_bind().dialect.name == "postgresql":
                # SQLite's write transaction holds the whole file already (BEGIN IMMEDIATE).
                session.execute(text("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE"))
            if session.exec(select(AccountRow.name).limit(1)).first() is not None:
                return None
            session.add(
                AccountRow(
                    name=fields.name, role=fields.role.value, created_at=now, created_by=SYSTEM
                )
            )
            session.flush()
            audit.record(
                session, now, SYSTEM, fields.name, AccountEvent.FIRST_ADMIN, {"role": "admin"}
            )
            token = self._issue(session, now, SYSTEM, fields.name, via="first_admin")
        log.info("first admin created", account=fields.name)
        return token

    def set_password(
        self, by: str, name: str, password: str, *, current: str | None = None
    ) -> Account:
        """Set ``name``'s password. Its own account (``by == name``) with a password already
        must give the ``current`` one: a token alone (perhaps left on a shared machine) cannot
        take the account over. An admin setting another's password needs none."""
        new_hash = self._passwords.hash(check_password(password))
        now = self._now()
        with write_session(self._engine) as session:
            row = _row(session, name, for_update=True)
            own = row.name == normal_name(by)
            if (
                own
                and row.password_hash is not None
                and not self._passwords.verify(row.password_hash, current or "")
            ):
                raise AccountError("the current password is wrong: nothing changed")
            row.password_hash = new_hash
            session.add(row)
            audit.record(session, now, by, row.name, AccountEvent.PASSWORD_SET)
            account = Account.of(row)
        log.info("password set", account=account.name, by=by)
        return account

    # --- Tokens ----------------------------------------------------------------------------------

    def new_token(self, by: str, name: str) -> str:
        """A new token for ``name`` (its other tokens stay valid). Refused for a disabled one."""
        now = self._now()
        with write_session(self._engine) as session:
            row = _row(session, name)
            if not row.enabled:
                raise AccountError(f"{row.name} is disabled: it cannot have a new token")
            name = row.name
            token = self._issue(session, now, by, name, via="issued")
        log.info("token issued", account=name, by=by)
        return token

    def revoke(self, token: str) -> None:
        """Revoke ``token`` (sign-out). An unknown or already revoked token: nothing to do."""
        if not tokens.looks_like_token(token):
            return
        now = self._now()
        with write_session(self._engine) as session:
            row = session.exec(
                select(TokenRow)
                .where(col(TokenRow.token_sha256) == tokens.digest(token))
                .with_for_update()
            ).first()
            if row is None or row.revoked_at is not None:
                return
            row.revoked_at = now
            session.add(row)
            name, details = row.account, {"token": str(row.id), "why": "sign-out"}
            audit.record(session, now, name, name, AccountEvent.TOKEN_REVOKED, details)
        log.info("token revoked", account=name, token_id=details["token"])

    def authenticate(self, token: str) -> Account | None:
        """The account ``token`` belongs to; None if the token is unknown, expired or revoked,
        or the account is disabled. Checked anew at every call (nothing is cached)."""
        if not tokens.looks_like_token(token):
            return None
        with read_session(self._engine) as session:
            found = session.exec(
                select(TokenRow, AccountRow)
                .join(AccountRow, col(AccountRow.name) == col(TokenRow.account))
                .where(col(TokenRow.token_sha256) == tokens.digest(token))
            ).first()
            if found is None:
                return None
            token_row, account_row = found
            if (
                token_row.revoked_at is not None
                or token_row.expires_at <= self._now()
                or not account_row.enabled
            ):
                return None
            return Account.of(account_row)

    # --- Signing in ------------------------------------------------------------------------------

    def sign_in(
        self, name: str, password: str, *, lifetime: timedelta | None = None
    ) -> tuple[Account, str, datetime]:
        """A new token for ``name`` if ``password`` is its password: (account, token, expiry).

        ``lifetime``: how long this token lasts, when not the store's (the workbench's
        sign-ins last hours, not the API tokens' days).

        Raises:
            SignInRefused: the name or the password is wrong, the account has no password or is
                disabled: one sentence for all, and one password verification for all.
            SignInThrottled: too many failures under this name (``idri.auth.throttle``); the
                password is not looked at.
        """
        key = normal_name(name)
        now = self._now()
        with read_session(self._engine) as session:
            row = session.get(AccountRow, key) if key else None
            known = row.name if row else None
            blocked = row.sign_in_blocked_until if row else self._unknown.blocked_until(key)
            stored = row.password_hash if row and row.enabled else None
        if blocked is not None and blocked > now:
            raise SignInThrottled((blocked - now).total_seconds())
        if not isinstance(password, str) or len(password) > PASSWORD_MAX:
            password = ""  # never a password (too short), verified all the same
        if not self._passwords.verify(stored, password) or known is None or stored is None:
            self._failed(known or key, now, known=known is not None)
            raise SignInRefused()
        # Hashed before the write transaction, which would otherwise hold SQLite's lock meanwhile.
        rehashed = self._passwords.hash(password) if self._passwords.needs_rehash(stored) else None
        with write_session(self._engine) as session:
            row = _row(session, key, for_update=True)
            if not row.enabled:  # disabled since the password was checked
                raise SignInRefused()
            row.failed_sign_ins = 0
            row.sign_in_blocked_until = None
            if rehashed is not None and row.password_hash == stored:
                row.password_hash = rehashed
            session.add(row)
            token = self._issue(session, now, row.name, row.name, via="sign_in", lifetime=lifetime)
            audit.record(session, now, row.name, row.name, AccountEvent.SIGNED_IN)
            account = Account.of(row)
        log.info("signed in", account=account.name)
        return account, token, now + (lifetime or self._lifetime)

    def _failed(self, name: str, now: datetime, *, known: bool) -> None:
        """Count a failed sign-in under ``name`` and write it to the audit trail."""
        with write_session(self._engine) as session:
            row = _find(session, name, for_update=True) if known else None
            if row is None:
                self._unknown.failed(name, now)
                audit.record(
                    session, now, None, None, AccountEvent.SIGN_IN_FAILED, {"name": "unknown"}
                )
                log.info("sign-in refused", account=None)
                return
            row.failed_sign_ins += 1
            delay = throttle.block_after(row.failed_sign_ins)
            row.sign_in_blocked_until = now + delay if delay else None
            session.add(row)
            details = {"failures": str(row.failed_sign_ins)}
            if not row.enabled:
                details["account"] = "disabled"
            if delay:
                details["blocked_seconds"] = str(int(delay.total_seconds()))
            audit.record(session, now, None, row.name, AccountEvent.SIGN_IN_FAILED, details)
        log.info("sign-in refused", account=name, failures=details["failures"])

    # --- Audit trail -----------------------------------------------------------------------------

    def audit_trail(
        self, name: str | None = None, *, limit: int = 1000
    ) -> builtins.list[AuditEntry]:
        """The newest ``limit`` lines of the accounts' audit trail (of ``name`` only, if given),
        oldest first."""
        return audit.trail(self._engine, None if name is None else normal_name(name), limit=limit)

    def _issue(
        self,
        session: Session,
        now: datetime,
        by: str,
        name: str,
        *,
        via: str,
        lifetime: timedelta | None = None,
    ) -> str:
        token = tokens.new_token()
        row = TokenRow(
            token_sha256=tokens.digest(token),
            account=name,
            issued_at=now,
            issued_by=by,
            via=via,
            expires_at=now + (lifetime or self._lifetime),
        )
        session.add(row)
        session.flush()  # gives the row its id, named in the audit line
        details = {"token": str(row.id), "via": via, "expires_at": row.expires_at.isoformat()}
        audit.record(session, now, by, name, AccountEvent.TOKEN_ISSUED, details)
        return token


def _row(session: Session, name: str, *, for_update: bool = False) -> AccountRow:
    row = _find(session, name, for_update=for_update)
    if row is None:
        raise AccountNotFound(f"no account is called {normal_name(name)!r}")
    return row


def _find(session: Session, name: str, *, for_update: bool = False) -> AccountRow | None:
    key = normal_name(name)
    if not key:
        return None
    query = select(AccountRow).where(col(AccountRow.name) == key)
    return session.exec(query.with_for_update() if for_update else query).first()


def _exists(name: str) -> AccountExists:
    return AccountExists(f"an account called {name!r} exists already: choose another name")


def _enabled_admins(session: Session) -> Sequence[str]:
    """The enabled admins' names, their rows locked until the transaction ends."""
    query = (
        select(AccountRow.name)
        .where(col(AccountRow.role) == AccountRole.ADMIN.value, col(AccountRow.enabled).is_(True))
        .order_by(col(AccountRow.name))
        .with_for_update()
    )
    return session.exec(query).all()


def _revoke_all(session: Session, name: str, now: datetime) -> str:
    rows = session.exec(
        select(TokenRow).where(col(TokenRow.account) == name, col(TokenRow.revoked_at).is_(None))
    ).all()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    return str(len(rows))
