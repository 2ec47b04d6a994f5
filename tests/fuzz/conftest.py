"""Fuzz suites: bounded so the whole directory runs in well under a minute in CI.

``DIALER_FUZZ_EXAMPLES`` (default 40) sets the examples per test; raise it for a long local
run, e.g. ``DIALER_FUZZ_EXAMPLES=2000 scripts/test tests/fuzz``. Failing examples are kept in
Hypothesis' example database (``.hypothesis/``) and replayed first on the next run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dialer-fuzz",
    max_examples=int(os.environ.get("DIALER_TEST_FUZZ_EXAMPLES") or os.environ.get("DIALER_FUZZ_EXAMPLES") or 40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    print_blob=True,
)
settings.load_profile("dialer-fuzz")
