"""Pure data and rules of idri: no I/O beyond reading the package's own data files at import.

Workflows import this package through ``workflow.unsafe.imports_passed_through()``, so it is
loaded once per worker, outside the sandbox, and shared by every case.
"""
