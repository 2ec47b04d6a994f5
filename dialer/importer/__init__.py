"""Import outbound records from CSV and XLSX files into a campaign.

:func:`import_file` is the library call; `dialer import` is a thin wrapper around it.
An import is atomic (one transaction), keeps every user-data value as the exact string in
the file, and explains every rejected row with its line number and a reason code.
"""

from __future__ import annotations

from dialer.importer.loader import ImportOptions, ImportProgress, ImportReport, import_file

__all__ = ["ImportOptions", "ImportProgress", "ImportReport", "import_file"]
