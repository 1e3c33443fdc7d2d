"""Revisions of the registry schema, oldest first; never edit one that has shipped."""
