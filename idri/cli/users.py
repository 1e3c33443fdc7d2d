"""Accounts: ``idri user add|list|disable|token|password`` (an admin's), and ``idri login``,
``logout``, ``whoami`` and ``password`` (anyone's), through the API's account routes (``docs/api.md``).

A token is shown once, when it is made; ``idri login`` keeps the one it gets in the token file
(``$XDG_CONFIG_HOME/idri/token``, mode 0600), where every later command finds it.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from idri.cli._api import (
    ApiError,
    call,
    credential,
    request,
    save_token,
    saved_token,
    token_file,
)
from idri.cli._common import JsonOption, console, fail, literal, print_json, resolve_district
from idri.cli._render import account_text, show_users

HELP_PANEL = "Accounts"

app = typer.Typer(
    name="user", help="Accounts (an admin's): add, list, disable, new token.", no_args_is_help=True
)


class AccountRole(str, Enum):
    admin = "admin"
    bureau_officer = "bureau_officer"
    district_officer = "district_officer"
    expert = "expert"
    applicant = "applicant"


def register(main: typer.Typer) -> None:
    main.add_typer(app, rich_help_panel=HELP_PANEL)
    for command in (login, logout, whoami, password):
        main.command(command.__name__, rich_help_panel=HELP_PANEL)(command)


def _path(name: str, action: str) -> str:
    from urllib.parse import quote

    return f"/api/users/{quote(name.strip(), safe='')}/{action}"


def _show_token(answer: dict[str, Any], done: str) -> None:
    out = console()
    out.print(f"[green]✓[/] {done}: {account_text(answer['user'])}")
    out.print(f"  token (shown once, keep it safe): {literal(answer['token'])}")
    out.print("  its holder uses it as IDRI_TOKEN, or signs in with `idri login` and a password")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The account's name (a person's name).")],
    role: Annotated[AccountRole, typer.Option("--role", help="What the account may do.")],
    district: Annotated[
        str | None,
        typer.Option("--district", help="A district officer's district (code, 中文 or English)."),
    ] = None,
    org: Annotated[
        str | None,
        typer.Option("--org", help="An expert's or applicant's organisation."),
    ] = None,
    email: Annotated[str | None, typer.Option("--email", help="An expert's e-mail.")] = None,
    password: Annotated[
        bool,
        typer.Option(
            "--password", metavar="", help="Set a password for `idri login` (asked twice, hidden)."
        ),
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Create an account; prints its first API token, once."""
    body: dict[str, Any] = {"name": name, "role": role.value}
    if district is not None:
        body["district"] = resolve_district(district)
    if org is not None:
        body["organisation"] = org
    if email is not None:
        body["email"] = email
    if password:
        body["password"] = typer.prompt(
            f"Password for {name}", hide_input=True, confirmation_prompt=True
        )
    answer = call("POST", "/api/users", body)
    if json_:
        print_json(answer)
    else:
        _show_token(answer, "account created")


@app.command("list")
def list_users(json_: JsonOption = False) -> None:
    """Every account: role, district, organisation, e-mail, enabled."""
    users = call("GET", "/api/users")
    if json_:
        print_json(users)
    else:
        show_users(users)


@app.command("disable")
def disable(
    name: Annotated[str, typer.Argument(help="The account to disable.")],
    json_: JsonOption = False,
) -> None:
    """Disable an account: its tokens stop working at once; its history stays."""
    user = call("POST", _path(name, "disable"))
    if json_:
        print_json(user)
        return
    console().print(f"[green]✓[/] account disabled: {account_text(user)}")


@app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="The account to give a new token.")],
    json_: JsonOption = False,
) -> None:
    """A new API token for an account (shown once)."""
    answer = call("POST", _path(name, "token"))
    if json_:
        print_json(answer)
    else:
        _show_token(answer, "new token")


@app.command("password")
def set_password(
    name: Annotated[str, typer.Argument(help="The account whose password to set.")],
    json_: JsonOption = False,
) -> None:
    """Set an account's password (a first one, or a forgotten one); asked twice, hidden."""
    secret = typer.prompt(f"New password for {name}", hide_input=True, confirmation_prompt=True)
    user = call("POST", _path(name, "password"), {"password": secret})
    if json_:
        print_json(user)
        return
    console().print(f"[green]✓[/] password set: {account_text(user)}")


# --- Signing in ------------------------------------------------------------------------------------


def login(
    name: Annotated[
        str | None, typer.Argument(help="Your account's name (asked when not given).")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Sign in with your password; the token is kept for later commands (mode 0600)."""
    if not name:
        name = typer.prompt("Name")
    secret = typer.prompt("Password", hide_input=True)
    answer = call("POST", "/api/sign-in", {"name": name, "password": secret}, signed_in=False)
    path = save_token(answer["token"])
    if json_:  # the account and where its token is kept, not the token itself
        print_json(
            {
                "user": answer["user"],
                "token_file": str(path),
                "expires_at": answer.get("expires_at"),
            }
        )
        return
    console().print(
        f"[green]✓[/] signed in as {account_text(answer['user'])}; token kept in "
        f"{literal(path)} until {literal(answer.get('expires_at') or 'it is revoked')}"
    )


def logout() -> None:
    """Sign out: revoke the kept token on the server and delete it here."""
    path = token_file()
    kept = saved_token()
    if kept is None:
        fail(f"not signed in on this machine: no token kept at {path}")
    try:
        request("POST", "/api/sign-out", token=kept)
    except ApiError as error:
        if error.status != 401:  # an expired or revoked token is signed out already
            fail(str(error), error.code)
    path.unlink(missing_ok=True)
    console().print(f"[green]✓[/] signed out; {literal(path)} deleted")


def password(json_: JsonOption = False) -> None:
    """Set your own password (asked for the current one first, if you have one)."""
    current = typer.prompt(
        "Current password (empty if you have none)", hide_input=True, default="", show_default=False
    )
    secret = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    body = {"password": secret, "current": current or None}
    user = call("POST", "/api/me/password", body)
    if json_:
        print_json(user)
        return
    console().print(f"[green]✓[/] password set: {account_text(user)}; `idri login` now works")


def whoami(json_: JsonOption = False) -> None:
    """The account this machine acts as, and where its token comes from."""
    found = credential()
    user = call("GET", "/api/me")
    if json_:
        print_json(user)
        return
    source = found.source if found else "no token"
    console().print(f"{account_text(user)}; token from {literal(source)}")
