"""The registry database of the administration commands that read it directly (``idri
report``, ``ended``, ``calendar``): which one, said on stderr, and refused when it does not exist.

Case commands read the running service's registry through its API; these commands open the
database the settings name (``IDRI_DATABASE_URL``, else ``<IDRI_DATA_DIR>/registry.sqlite3``),
which is another service's, or none, when run from another directory: so they say which.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from idri.cli._common import fail, settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

T = TypeVar("T")


def registry_place(url: str) -> str:
    """The registry as a person names it: the SQLite file's path, or the URL without password."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def with_registry(work: Callable[[Engine], T], *, quiet: bool = False) -> T:
    """``work`` on the settings' registry database, after one stderr line naming it.

    A SQLite file that does not exist is refused (opening it would create an empty one); a
    database error fails in one line.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from activities.db import create_registry_engine

    url = settings().registry_url
    place = registry_place(url)
    if url.startswith("sqlite:///") and not Path(place).exists():
        fail(
            f"no registry database at {place}: the worker creates it (`idri up`); for a "
            "service with another data directory set IDRI_DATA_DIR (or IDRI_DATABASE_URL)"
        )
    if not quiet:
        typer.echo(f"registry: {place}", err=True)
    engine = create_registry_engine(url)
    try:
        return work(engine)
    except SQLAlchemyError as error:
        fail(f"cannot use the registry at {place}: {str(error).splitlines()[0]}")
    finally:
        engine.dispose()
