"""Small real files of each accepted type, and some that only pretend to be one."""

from __future__ import annotations

import io
import zipfile

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100


def office(kind: str) -> bytes:
    """A minimal DOCX (``word``) or XLSX (``xl``): a ZIP with Office Open XML's parts."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        if kind == "word":
            archive.writestr("word/document.xml", "<w:document/>")
        elif kind == "xl":
            archive.writestr("xl/workbook.xml", "<workbook/>")
        else:
            archive.writestr("readme.txt", "just a zip")
    return buffer.getvalue()
