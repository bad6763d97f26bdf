"""vscanner's console: profiles, network services, store, jobs, media, CLI and TUI.

The package is headless; only ``appliance.tui`` imports Textual.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
