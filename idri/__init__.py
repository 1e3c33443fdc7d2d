"""Entry-point side of idri: settings, logging, the Temporal connection and the operator CLI.

Nothing here is imported by workflow code: workflows see only `models/` and the SDK.
"""

__version__ = "0.1.0"
"""For a source tree that was never installed; the installed package's metadata wins."""
