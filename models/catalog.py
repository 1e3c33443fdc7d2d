"""The districts and industry directions of the programme, read from ``models/data``.

They are data, not code: a new district or direction is an edit of a JSON file. Lookups accept
the code, the Chinese name or the English name, and a near miss gets a suggestion.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Entry:
    """One district or one industry direction."""

    code: str
    """Stable identifier stored on cases and in search attributes (ASCII, snake_case)."""
    zh: str
    """Chinese name, as the work plan writes it."""
    en: str
    """English name."""
    category: str = ""
    """For directions: the code of the category (emerging, advantage, basic)."""

    @property
    def label(self) -> str:
        return f"{self.zh} ({self.en})"


class UnknownEntry(ValueError):
    """A name that matches no entry of a catalogue; the message suggests the nearest ones."""


class Catalogue:
    """A list of entries, found by code, Chinese name or English name (case-insensitive)."""

    def __init__(self, kind: str, entries: list[Entry]) -> None:
        self.kind = kind
        self.entries = tuple(entries)
        self._by_key: dict[str, Entry] = {}
        for entry in entries:
            for key in (entry.code, entry.zh, entry.en):
                self._by_key[_fold(key)] = entry
        # A district is often written without its suffix (和平 for 和平区, Binhai for Binhai New Area).
        for entry in entries:
            for key in (entry.zh.removesuffix("区").removesuffix("新"), entry.en.split(" ")[0]):
                self._by_key.setdefault(_fold(key), entry)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and any(e.code == code for e in self.entries)

    def codes(self) -> list[str]:
        return [e.code for e in self.entries]

    def get(self, code: str) -> Entry:
        """The entry with this exact code (what a case stores)."""
        for entry in self.entries:
            if entry.code == code:
                return entry
        raise UnknownEntry(f"unknown {self.kind} code {code!r}")

    def find(self, text: str) -> Entry:
        """Resolve what a person typed; raise :class:`UnknownEntry` with suggestions otherwise."""
        entry = self._by_key.get(_fold(text))
        if entry is not None:
            return entry
        suggestions = self.suggest(text)
        hint = f"; did you mean {' or '.join(suggestions)}?" if suggestions else ""
        raise UnknownEntry(
            f"unknown {self.kind} {text!r}{hint} (`idri {self.kind}s` lists all {len(self.entries)})"
        )

    def suggest(self, text: str, limit: int = 3) -> list[str]:
        folded = _fold(text)
        keys = list(self._by_key)
        found: list[str] = []
        for key in difflib.get_close_matches(folded, keys, n=limit * 3, cutoff=0.5):
            label = self._by_key[key].label
            if label not in found:
                found.append(label)
        # Chinese names are short, so difflib's ratio misses a one-character slip; containment helps.
        for key, entry in self._by_key.items():
            if folded and (folded in key or key in folded) and entry.label not in found:
                found.append(entry.label)
        return found[:limit]


def _fold(text: str) -> str:
    return " ".join(text.strip().casefold().replace("_", " ").replace("-", " ").split())


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    )
    return data


def _load_districts() -> Catalogue:
    rows = _load("districts.json")["districts"]
    return Catalogue("district", [Entry(r["code"], r["zh"], r["en"]) for r in rows])


def _load_directions() -> Catalogue:
    entries = [
        Entry(d["code"], d["zh"], d["en"], category["code"])
        for category in _load("directions.json")["categories"]
        for d in category["directions"]
    ]
    return Catalogue("direction", entries)


DISTRICTS = _load_districts()
DIRECTIONS = _load_directions()
