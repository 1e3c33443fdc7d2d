"""The documents a case keeps (issue 20, item 11): which kinds, who attaches them, which names and
contents are accepted. Pure: the store (``idri/documents/``) and the workflow both ask here.

A document is kept by its content's SHA-256, never by the name a person gave it: the name is a
label of the case's record, so ``../../etc/passwd`` can name no file anywhere; it is refused
anyway, with the reason, because a name with a path in it is a mistake worth telling.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from models.case import Actor, Role, Stage
from models.limits import name_problem


class DocumentKind(str, Enum):
    """What a document is for, by the work plan's own papers."""

    PLAN = "plan"
    """The creation plan (创建方案, following 附件1 and 附件2); recorded by ``submit_plan``."""
    RECOMMENDATION = "recommendation"
    """The district's recommendation opinion form (推荐意见, 附件3)."""
    INSPECTION = "inspection"
    """The site inspection report (现场考查)."""
    RECTIFICATION = "rectification"
    """The rectification report (整改)."""
    EVALUATION = "evaluation"
    """Materials of a tracking evaluation (跟踪评估)."""


@dataclass(frozen=True)
class KindRule:
    roles: frozenset[Role]
    stages: frozenset[Stage]


_D, _A, _B = Role.DISTRICT_OFFICER, Role.APPLICANT, Role.BUREAU_OFFICER
S = Stage
KIND_RULES: dict[DocumentKind, KindRule] = {
    DocumentKind.PLAN: KindRule(frozenset({_D, _A}), frozenset({S.SURVEYED, S.PLAN_SUBMITTED})),
    DocumentKind.RECOMMENDATION: KindRule(
        frozenset({_D}), frozenset({S.SURVEYED, S.PLAN_SUBMITTED, S.RECOMMENDED})
    ),
    DocumentKind.INSPECTION: KindRule(frozenset({_B}), frozenset({S.UNDER_REVIEW})),
    DocumentKind.RECTIFICATION: KindRule(frozenset({_D, _A}), frozenset({S.RECTIFYING})),
    DocumentKind.EVALUATION: KindRule(
        frozenset({_D, _A, _B}), frozenset({S.DESIGNATED, S.UNDER_EVALUATION, S.RECTIFYING})
    ),
}
"""Who may attach which kind, at which stages (the plan itself through ``submit_plan``)."""


def kind_of(text: str) -> DocumentKind:
    """The kind named by ``text``; ValueError naming the kinds otherwise."""
    try:
        return DocumentKind(text.strip().lower())
    except ValueError:
        kinds = ", ".join(k.value for k in DocumentKind)
        raise ValueError(f"unknown document kind {text!r} (kinds: {kinds})") from None


def attach_refusal(kind: DocumentKind, actor: Actor, stage: Stage, district: str) -> str | None:
    """Why ``actor`` may not attach a ``kind`` document to a case in ``stage``, or None."""
    rule = KIND_RULES[kind]
    role = actor.recorded_role
    if role not in rule.roles:
        allowed = " or ".join(sorted(r.value for r in rule.roles))
        return (
            f"a {kind.value} document is attached by a {allowed}; {actor.name} acts as {role.value}"
        )
    if role is Role.DISTRICT_OFFICER and actor.district != district:
        return f"{actor.name} serves district {actor.district}, not this case's ({district})"
    if stage not in rule.stages:
        stages = ", ".join(sorted(s.value for s in rule.stages))
        return (
            f"the case is in stage '{stage.value}': a {kind.value} document is attached in "
            f"stage {stages}"
        )
    return None


# --- Names ----------------------------------------------------------------------------------------

EXTENSIONS: dict[str, str] = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
"""The accepted types, by the name's extension: PDF, DOCX, XLSX and images."""

TYPE_NAMES = {
    "application/pdf": "a PDF",
    EXTENSIONS[".docx"]: "a Word document (DOCX)",
    EXTENSIONS[".xlsx"]: "an Excel workbook (XLSX)",
    "image/png": "a PNG image",
    "image/jpeg": "a JPEG image",
    "image/gif": "a GIF image",
    "image/webp": "a WebP image",
    "application/zip": "a ZIP archive",
    "application/x-ole-storage": "an old Office file (DOC/XLS)",
}


def name_refusal(name: str) -> str | None:
    """Why ``name`` cannot name a document, or None: a file name only (no directory, no
    leading dot), one of the accepted extensions, within the limits of a name."""
    problem = name_problem(name, "a document's name")
    if problem is not None:
        return problem
    if "/" in name or "\\" in name or name.strip() in (".", ".."):
        return f"a document's name is a file name, not a path: {name!r}"
    if name.startswith(".") or name != name.strip():
        return f"a document's name may not start with a dot or a space: {name!r}"
    if extension(name) not in EXTENSIONS:
        accepted = ", ".join(sorted(EXTENSIONS))
        return f"{name!r} is not a PDF, DOCX, XLSX or image file (accepted: {accepted})"
    return None


def extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


# --- Contents -----------------------------------------------------------------------------------

SNIFF_BYTES = 16
"""How much of the start of a file ``sniff`` needs."""


def sniff(head: bytes) -> str | None:
    """The media type the first bytes of a file say, or None. A ZIP (DOCX and XLSX are ZIPs)
    is ``application/zip``: which one it is takes its table of contents (``office_type``)."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/x-ole-storage"
    return None


def office_type(members: set[str]) -> str | None:
    """DOCX or XLSX by the members of a ZIP (Office Open XML), or None for another ZIP."""
    if "[Content_Types].xml" not in members:
        return None
    if "word/document.xml" in members:
        return EXTENSIONS[".docx"]
    if "xl/workbook.xml" in members:
        return EXTENSIONS[".xlsx"]
    return None


def type_refusal(name: str, found: str | None) -> str | None:
    """Why content of type ``found`` may not be kept under ``name``, or None: the content must
    be what the name says (a PDF named ``.pdf``), judged by its bytes, not by the name."""
    expected = EXTENSIONS.get(extension(name))
    if found == expected and found is not None:
        return None
    what = TYPE_NAMES.get(found or "", "not a PDF, DOCX, XLSX or image file")
    return (
        f"{name!r} is {what} by its content, not {TYPE_NAMES.get(expected or '', 'what its name says')}"
        " as its name says; upload the document itself (PDF, DOCX, XLSX or an image)"
    )


def is_sha256(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )
