"""The idri worker: ``python worker.py`` runs the workflows and activities (see ``idri/worker.py``).

It connects with the settings (``TEMPORAL_ADDRESS`` / ``TEMPORAL_NAMESPACE`` honoured), applies
the registry's migrations and polls the task queue until interrupted.
"""

from idri.worker import main

if __name__ == "__main__":
    main()
