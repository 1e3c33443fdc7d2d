"""``idri document``: a case's documents, kept by the API's document store (docs/api.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from idri.cli._api import call, case_path
from idri.cli._common import JsonOption, console, fail, print_json, regular_file
from idri.cli._files import download, upload
from idri.cli._render import minute

HELP_PANEL = "Cases"

app = typer.Typer(
    name="document", help="A case's documents (kept by SHA-256).", no_args_is_help=True
)

CaseArg = Annotated[str, typer.Argument(metavar="CASE", help="The case id.")]


def upload_document(case: str, file: Path, kind: str) -> Any:
    """Upload ``file`` to ``case`` as a ``kind`` document; the API's answer."""
    return upload(case_path(case, "documents"), file, {"name": file.name, "kind": kind})


@app.command("add")
def add(
    case: CaseArg,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    kind: Annotated[
        str,
        typer.Option("--kind", help="recommendation, inspection, rectification or evaluation."),
    ],
    json_: JsonOption = False,
) -> None:
    """Keep a document (PDF, DOCX, XLSX or an image) on the case (the plan: idri plan submit)."""
    answer = upload_document(case, regular_file(file, "the document"), kind)
    if json_:
        print_json(answer)
        return
    document = answer["document"]
    console().print(
        f"✓ {document['kind']} document {document['name']} kept "
        f"({document['size']} bytes, SHA-256 {document['sha256']})"
    )


@app.command("list")
def list_documents(case: CaseArg, json_: JsonOption = False) -> None:
    """The documents recorded on the case, oldest first."""
    rows = call("GET", case_path(case, "documents"))
    if json_:
        print_json(rows)
        return
    if not rows:
        console().print(f"case {case} has no documents")
        return
    for row in rows:
        size = f"{row['size']} bytes" if row["size"] is not None else "hash only"
        kept = "" if row["kept"] else "  (content not uploaded)"
        console().print(
            f"{row['name']}  {row['kind']}  {size}  {row['sha256'][:12]}…  "
            f"{row['recorded_by']} {minute(row['recorded_at'])}{kept}",
            highlight=False,
        )


@app.command("get")
def get(
    case: CaseArg,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The document's name.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Where to write it (default: NAME here; - for stdout)."
        ),
    ] = None,
) -> None:
    """Fetch a document of a case you may see."""
    if "/" in name or "\\" in name or name in (".", ".."):
        fail(f"a document's name is a file name, not a path: {name!r}")
    to_stdout = output is not None and str(output) == "-"
    destination = None if to_stdout else (output or Path(name))
    if destination is not None and destination.is_dir():
        destination = destination / name
    written, sha256 = download(case_path(case, "documents", quote(name, safe="")), destination)
    if destination is not None:
        typer.echo(f"✓ {destination} written ({written} bytes, SHA-256 {sha256})", err=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, rich_help_panel=HELP_PANEL)
