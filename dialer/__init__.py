"""dialer: an outbound predictive dialer for preview records.

The library API is small; the CLI (`dialer --help`) is built on it.
"""

from __future__ import annotations

__version__ = "0.1.0"

from dialer.errors import DialerError
from dialer.settings import Settings, load_settings

__all__ = ["DialerError", "Settings", "__version__", "load_settings"]
