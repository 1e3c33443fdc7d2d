"""Entry-point side of idri: settings, logging, the Temporal connection and the operator CLI.

Nothing here is imported by workflow code: workflows see only `models/` and the SDK.
"""
