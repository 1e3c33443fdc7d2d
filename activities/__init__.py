"""Activities of idri: the registry, notifications and publication (all the I/O of a case)."""
