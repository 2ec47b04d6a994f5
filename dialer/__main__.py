"""`python -m dialer` runs the CLI."""

from __future__ import annotations

import sys

from dialer.cli import main

sys.exit(main())
