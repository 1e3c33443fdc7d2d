"""What a name, a free text and an e-mail address may hold, and how data is made safe to show.

Pure rules (no I/O), used where input enters (the case's update validators, ``idri survey
add|import``, ``idri review assign``) and where data leaves (the CLI's tables and CSV, the
report files, the outbox). A rule broken returns a sentence a person can act on, not an
exception: each caller raises what its own side raises.

Why limits at all: a name travels into every mail, page, table and search attribute of the case
and into its history at every event. A megabyte name makes megabyte mails and a continue-as-new
per event; a control character reaches an operator's terminal (escape sequences) or a mail
header (a line break); a cell starting with ``=`` is a formula in Excel or WPS.
"""

from __future__ import annotations

import re
import unicodedata

NAME_MAX = 200
"""Characters of a name: an organisation, a person, a file name, a qualification."""

TEXT_MAX = 5000
"""Characters of a free text: an opinion, a reason, a note, a report."""

MAILBOX_MAX = 254
"""Characters of an e-mail address (RFC 5321's limit on a forward path, less the brackets)."""

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidirectional controls: they make a terminal or a page show text in another order than it
is stored (an organisation name reading as someone else's)."""


def _is_control(char: str, *, allowed: str) -> bool:
    return char not in allowed and (unicodedata.category(char) == "Cc" or char in _BIDI)


def _first_control(text: str, *, allowed: str) -> str | None:
    return next((c for c in text if _is_control(c, allowed=allowed)), None)


def name_problem(value: object, what: str, *, limit: int = NAME_MAX) -> str | None:
    """Why ``value`` cannot be ``what`` (a one-line name), or None when it can."""
    return _problem(value, what, limit=limit, allowed="")


def text_problem(value: object, what: str, *, limit: int = TEXT_MAX) -> str | None:
    """Why ``value`` cannot be ``what`` (a free text: line breaks and tabs are fine), or None."""
    return _problem(value, what, limit=limit, allowed="\n\t\r")


def _problem(value: object, what: str, *, limit: int, allowed: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return f"{what} must not be empty"
    if len(value) > limit:
        return f"{what} is too long ({len(value)} characters; at most {limit}): shorten it"
    control = _first_control(value, allowed=allowed)
    if control is not None:
        where = "a line break" if control in "\r\n\x0b\x0c\x85" else f"U+{ord(control):04X}"
        return (
            f"{what} holds a control character ({where}), which no name or text needs: "
            "type it again without it"
        )
    return None


# A mailbox as people write one, no more: local part and domain of letters (any script),
# digits and the few signs addresses use; no spaces, quotes, commas, angle brackets or a second
# "@", so one value is always one recipient and never a header of its own.
_LOCAL_PART = r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_MAILBOX = re.compile(rf"{_LOCAL_PART}@{_LABEL}(?:\.{_LABEL})+")


def mailbox_problem(address: object, whose: str) -> str | None:
    """Why ``address`` is not one plain mailbox (``whose`` e-mail address), or None if it is.

    ``whose`` names the owner as in "the contact's"; None (no address) is fine.
    """
    if address is None:
        return None
    if not isinstance(address, str) or not address:
        return f"{whose} e-mail address is empty: leave it out or give one address like a@b.cn"
    shown = printable(repr(address[:80]) + ("…" if len(address) > 80 else ""))
    if len(address) > MAILBOX_MAX or not _MAILBOX.fullmatch(address):
        return (
            f"{whose} e-mail address {shown} is not one plain address like a@b.cn "
            "(one address only: no name, list, spaces or line breaks)"
        )
    return None


# --- Output -------------------------------------------------------------------------------------

_REPLACEMENT = "\ufffd"


def printable(text: str, *, keep: str = "\n\t") -> str:
    """``text`` with control characters (escape sequences among them) and bidirectional
    controls replaced by U+FFFD, so that what is shown is what is stored, visibly.

    ``keep`` are the controls left alone: line breaks and tabs by default (multi-line text).
    """
    if text.isprintable() or _first_control(text, allowed=keep) is None:
        return text
    return "".join(_REPLACEMENT if _is_control(c, allowed=keep) else c for c in text)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(text: str) -> str:
    """A CSV cell a spreadsheet (Excel, WPS, LibreOffice) shows as text, never runs as a formula.

    OWASP's advice on CSV injection: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return gets a leading single quote. Control characters are replaced as on a terminal.
    """
    quote = "'" if text.startswith(_FORMULA_STARTS) else ""
    return quote + printable(text, keep="")
