"""The operator CLI: ``python starter.py ...`` is the same as ``idri ...`` (see ``idri/cli``)."""

from idri.cli import main

if __name__ == "__main__":
    main()
