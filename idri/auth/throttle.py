"""Failed sign-ins under one name slow further attempts down, exponentially.

After :data:`FREE_FAILURES` consecutive failures, each further failure blocks the name for
2^(n - 5) seconds (1 s, 2 s, 4 s, ...), at most :data:`MAX_DELAY`; an attempt while blocked is
refused without looking at the password. A successful sign-in starts the count again.

For an account the count lives in its row (``accounts.failed_sign_ins``), so every API process
sees it. A name no account has is counted in :class:`UnknownNames`, in this process's memory:
the database keeps no row for a name nobody holds (what was typed may be a password typed into
the wrong field, and a row per guessed name would let anyone fill the table). The price: each
API process counts an unknown name on its own, and a restart forgets it. Unknown names are
throttled on the same schedule as accounts, so throttling does not tell which names exist.

Anyone can block an account's sign-ins for up to :data:`MAX_DELAY` by failing under its name:
the price of throttling per account. Its tokens keep working.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta

FREE_FAILURES = 5
MAX_DELAY = timedelta(minutes=15)


def block_after(failures: int) -> timedelta | None:
    """How long a name is blocked after its ``failures``-th consecutive failure (None: not)."""
    if failures < FREE_FAILURES:
        return None
    exponent = failures - FREE_FAILURES
    # 2^10 s already passes the cap: no need to build huge numbers for a long attack.
    return MAX_DELAY if exponent >= 10 else min(timedelta(seconds=2**exponent), MAX_DELAY)


class UnknownNames:
    """Failure counts of names no account has, in memory, for the names seen most recently."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._counts: OrderedDict[str, tuple[int, datetime | None]] = OrderedDict()
        self._lock = threading.Lock()  # the API calls the store from several threads

    def blocked_until(self, name: str) -> datetime | None:
        with self._lock:
            entry = self._counts.get(name)
        return entry[1] if entry else None

    def failed(self, name: str, now: datetime) -> None:
        with self._lock:
            failures = self._counts.pop(name, (0, None))[0] + 1
            delay = block_after(failures)
            self._counts[name] = (failures, now + delay if delay else None)
            while len(self._counts) > self._capacity:
                self._counts.popitem(last=False)
