"""`.ci/run`: the lint runs whatever the tests gave, and the run fails when either failed."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tree(tmp_path: Path, test_rc: int, check_rc: int) -> Path:
    """A copy of .ci/run beside stand-in scripts that record that they ran and exit as told."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "scripts").mkdir()
    codes = {"install-libreoffice": 0, "install-chromium": 0, "test": test_rc, "check": check_rc}
    for name, rc in codes.items():
        script = tmp_path / "scripts" / name
        script.write_text(f'#!/usr/bin/env bash\necho {name} >> "$(dirname "$0")/../ran"\nexit {rc}\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return tmp_path


@pytest.mark.parametrize(
    ("test_rc", "check_rc", "expected"),
    [(0, 0, 0), (1, 0, 1), (0, 1, 1), (2, 1, 2)],
)
def test_ci_runs_the_checks_even_when_tests_fail(tmp_path: Path, test_rc: int, check_rc: int, expected: int) -> None:
    tree = _tree(tmp_path, test_rc, check_rc)
    done = subprocess.run(["bash", str(tree / ".ci" / "run")], capture_output=True, text=True, check=False)
    assert (tree / "ran").read_text().split() == ["install-libreoffice", "install-chromium", "test", "check"]
    assert done.returncode == expected, done.stderr
