"""`dialer` as operating-system processes, for the end-to-end tests: the environment of a
process (none of the developer's DIALER_* settings; the Evo Voice sandbox's client settings
when it dials through it), a command run to completion, and `dialer run` started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def environment(database_url: str, *, evo_url: str | None = None, **settings: str) -> dict[str, str]:
    """The environment of a `dialer` process on ``database_url``: the simulated call centre,
    or the Evo Voice sandbox at ``evo_url`` (its manager login, short timeouts, fast polls);
    ticks of 0.2 s. ``settings`` (DIALER_…=value) are added last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env.update(DIALER_DATABASE_URL=database_url, DIALER_BACKEND="simulated", DIALER_TICK_SECONDS="0.2")
    if evo_url is not None:
        env.update(
            DIALER_BACKEND="evovoice",
            DIALER_EVOVOICE_BASE_URL=evo_url,
            DIALER_EVOVOICE_USERNAME="manager@sandbox.test",
            DIALER_EVOVOICE_PASSWORD="sandbox",
            DIALER_EVOVOICE_TIMEOUT="2",
            DIALER_EVOVOICE_MAX_CPS="20",
            DIALER_EVOVOICE_POLL_INTERVAL="0.2",
        )
    env.update(settings)
    return env


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``dialer ARGS`` run to completion (two minutes at the most), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "dialer", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def start_run(env: dict[str, str], cwd: Path, *args: str, verbose: bool = False, **popen: Any) -> subprocess.Popen[str]:
    """``dialer [-v] run ARGS`` started; its output on pipes unless ``popen`` says otherwise."""
    command = [sys.executable, "-m", "dialer", *(["-v"] if verbose else []), "run", *args]
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen(command, env=env, cwd=cwd, text=True, **options)
