"""Temporal workflows of idri. They import only ``models/`` and the SDK."""
