"""What every idri command shares: output, turning failures into one line on stderr, the
refusal of the old identity flags, and the Temporal connection of the administration commands.

Case commands reach cases through the API (``idri.cli._api``) and never load Temporal; the
administration commands (``idri up``, ``schedules``, ``simulate``, ``report``) connect to it
here, importing everything from ``temporalio`` and the workflow module inside the functions
that talk to the server. Queries and updates name their ``InstituteWorkflow`` method.

Exit status: 0 done; 1 refused or invalid (the reason is on stderr, one line); 2 wrong usage
(Typer's own message, or a retired flag); 3 the API or Temporal unreachable, or no answer in
time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from models.case import Actor, Role
from models.catalog import DISTRICTS, UnknownEntry
from models.jsondata import jsonable
from models.limits import printable
from models.time import CST

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text
    from temporalio.client import Client

    from idri.settings import Settings

T = TypeVar("T")

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3

ANSWER_TIMEOUT_SECONDS = 30.0
"""How long a command waits for a case to answer before it blames a missing worker."""
CONNECT_TIMEOUT_SECONDS = 10.0


class CliError(Exception):
    """A failure the operator reads: one line, with what was wrong and what to do."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with ``code``."""
    typer.echo(f"error: {_one_line(message)}", err=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    typer.echo(f"warning: {_one_line(message)}", err=True)


def _one_line(message: object) -> str:
    """A message as one line a terminal shows as it is (it may quote what someone typed)."""
    return shown(" ".join(str(message).split()))


def shown(text: str) -> str:
    """``text`` safe to print on a terminal: escape sequences and other control characters
    (data from a case, a sheet, the registry) replaced, so data cannot move the cursor, retitle
    the window or hide what follows. Line breaks and tabs stay."""
    return printable(text)


# --- Settings ------------------------------------------------------------------------------------


def settings() -> Settings:
    """The settings of this invocation (read once per process, see ``idri.settings``)."""
    from pydantic import ValidationError

    from idri.settings import get_settings

    try:
        return get_settings()
    except ValidationError as error:
        problems = "; ".join(
            f"IDRI_{'_'.join(str(p) for p in e['loc']).upper()}: "
            + str(e["msg"]).removeprefix("Value error, ")
            for e in error.errors()
        )
        fail(f"invalid settings: {problems}")


# --- Identity ------------------------------------------------------------------------------------

IDENTITY_MOVED = (
    "--as, --role and --district no longer choose who acts: identity now comes from the "
    "signed-in account (`idri login NAME`, or IDRI_TOKEN set to an API token)"
)


def _refuse_identity(value: str | None) -> None:
    if value is not None:
        typer.echo(f"error: {IDENTITY_MOVED}", err=True)
        raise typer.Exit(EXIT_USAGE)


IdentityOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        "--role",
        "--district",
        hidden=True,
        callback=_refuse_identity,
        help="Refused: identity comes from the signed-in account.",
    ),
]
"""The operator flags of old, on a case command: given, refused with :data:`IDENTITY_MOVED`."""
AsRoleOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        "--role",
        hidden=True,
        callback=_refuse_identity,
        help="Refused: identity comes from the signed-in account.",
    ),
]
"""As :data:`IdentityOption`, for a command whose ``--district`` is data (``survey add``)."""
JsonOption = Annotated[
    bool, typer.Option("--json", metavar="", help="Print JSON (ISO dates) instead of text.")
]


# --- An administrator's name (commands that act on Temporal directly: ``idri ended``) ------------


class OperatorRole(str, Enum):
    """Roles a person acts in (``system`` is the workflow's own)."""

    bureau_officer = "bureau_officer"
    district_officer = "district_officer"
    expert = "expert"
    applicant = "applicant"


AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        envvar="IDRI_ACTOR",
        help="Who is acting, written into the case's history (default: IDRI_ACTOR, else your "
        "login name). Administration only: case commands act as the signed-in account.",
        rich_help_panel="Operator",
        show_default=False,
    ),
]


def operator(name: str | None, role: OperatorRole, district: str | None) -> Actor:
    """The :class:`Actor` of an administration command that holds Temporal's own credentials:
    ``--as``, else ``IDRI_ACTOR``, else the login. Case commands never build one: the API
    builds the actor from the signed-in account."""
    if not name:
        configured = settings()
        name = configured.actor if "actor" in configured.model_fields_set else _login()
    name = name.strip()
    if not name:
        fail("every action needs the operator's identity: pass --as NAME or set IDRI_ACTOR")
    district_code = resolve_district(district) if district else None
    return Actor(name=name, role=Role(role.value), district=district_code)


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def resolve_district(text: str) -> str:
    try:
        return DISTRICTS.find(text).code
    except UnknownEntry as error:
        fail(str(error))


def normalise_case_id(text: str) -> str:
    """Accept a case id or its workflow id (``institute-<case id>``, as the Web UI shows it)."""
    text = text.strip()
    return text.removeprefix("institute-") if text.startswith("institute-") else text


# --- Output ---------------------------------------------------------------------------------------


def console() -> Console:
    """A Rich console on the current stdout (colours and tables on a terminal only).

    Every string it prints, table cells among them, goes through :func:`shown` first: Rich
    itself passes escape sequences in data through to the terminal.
    """
    from rich.console import Console

    class DataConsole(Console):
        def render_str(self, text: str, **options: Any) -> Text:
            return super().render_str(shown(text), **options)

    return DataConsole(highlight=False, emoji=False, soft_wrap=True)


def print_json(value: Any) -> None:
    """``value`` as JSON, readable (not ASCII-escaped) but terminal-safe: JSON escapes the C0
    controls itself; the other controls (DEL, C1 such as U+009B, a CSI to many terminals;
    bidirectional overrides) are escaped as ``\\uXXXX`` too, which decodes to the same data."""
    text = json.dumps(jsonable(value), ensure_ascii=False, indent=2)
    typer.echo(_UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m[0]):04x}", text))


_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def iso(moment: datetime | str | None) -> str:
    """A moment in ISO form, in Beijing time (``2025-06-03T10:00:00+08:00``); a moment may be
    given as the API's ISO text. Text that is no moment is shown as it is."""
    if isinstance(moment, str):
        parsed = _parse_moment(moment)
        if parsed is None:
            return moment
        moment = parsed
    if moment is None:
        return ""
    return moment.astimezone(CST).isoformat(timespec="seconds")


def day(moment: datetime | str | None) -> str:
    """The Beijing date of a moment, ISO (``2025-06-03``)."""
    if isinstance(moment, str):
        parsed = _parse_moment(moment)
        if parsed is None:
            return moment
        moment = parsed
    return moment.astimezone(CST).date().isoformat() if moment else ""


def _parse_moment(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=CST)


def literal(value: object) -> str:
    """Data to put in a Rich markup string: terminal-safe (:func:`shown`) and with its square
    brackets escaped, so that an organisation named ``[bold red]x[/]`` prints as it is named."""
    from rich.markup import escape

    return escape(shown("" if value is None else str(value)))


def parse_date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{what} must be an ISO date like 2025-06-30, not {text!r}"
        ) from None


# --- Talking to Temporal --------------------------------------------------------------------------


def run(work: Callable[[Client], Awaitable[T]]) -> T:
    """Connect, run ``work`` and turn every expected failure into one line on stderr."""

    async def main() -> T:
        client = await connect_client(settings())
        return await work(client)

    import asyncio

    from idri.codec import DecryptionError

    try:
        return asyncio.run(main())
    except CliError as error:
        fail(str(error), error.code)
    except DecryptionError as error:
        # An answer this process cannot read: no keys, or not the key it was written with.
        fail(str(error))


async def connect_client(configured: Settings) -> Client:
    """Connect to Temporal, explaining why it failed."""
    from idri.client import connect, connect_config
    from idri.codec import EncryptionConfigError

    address = connect_config(configured).get("target_host", configured.temporal_address)
    try:
        import asyncio

        return await asyncio.wait_for(connect(configured), CONNECT_TIMEOUT_SECONDS)
    except EncryptionConfigError as error:
        raise CliError(str(error)) from None
    except (RuntimeError, OSError, TimeoutError) as error:
        text = " ".join(str(error).split())
        if "refused" in text.lower():
            reason = "connection refused"
        elif isinstance(error, TimeoutError):
            reason = f"no answer within {CONNECT_TIMEOUT_SECONDS:g}s"
        else:
            reason = text[:160] or type(error).__name__
        raise CliError(
            f"cannot reach Temporal at {address} ({reason}); start it with `idri up`, "
            "or point TEMPORAL_ADDRESS at your server",
            EXIT_UNAVAILABLE,
        ) from None


def regular_file(path: Path, what: str) -> Path:
    """``path`` if it is a regular file; otherwise fail in one line (reading a device such as
    ``/dev/zero`` or a FIFO would never end, or block until another program writes)."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError as error:
        fail(f"cannot read {what} {path}: {error.strerror or error}")
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
        fail(f"{what} {path} is {kind}, not a regular file: give the file itself")
    return path
