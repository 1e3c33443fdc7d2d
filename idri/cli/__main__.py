"""``python -m idri.cli ...`` is ``idri ...`` (handy with ``python -X importtime``)."""

from idri.cli import main

main()
