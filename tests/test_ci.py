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


def _test_tree(tmp_path: Path) -> Path:
    """A copy of scripts/test beside a stand-in install and a stand-in .venv python that
    records the arguments pytest would get."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "test", tmp_path / "scripts" / "test")
    (tmp_path / "scripts" / "install").write_text("#!/usr/bin/env bash\nexit 0\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    for script in (tmp_path / "scripts" / "install", tmp_path / ".venv" / "bin" / "python"):
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return tmp_path


def _pytest_args(tree: Path, *args: str, workers: str | None = None) -> list[str]:
    env = {"PATH": "/usr/bin:/bin"} | ({"DIALER_TEST_WORKERS": workers} if workers else {})
    done = subprocess.run(
        ["bash", str(tree / "scripts" / "test"), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.splitlines()


def test_the_suite_runs_on_parallel_workers_unless_told_otherwise(tmp_path: Path) -> None:
    tree = _test_tree(tmp_path)
    assert _pytest_args(tree, "tests/unit") == ["-m", "pytest", "-n", "3", "--dist", "worksteal", "tests/unit"]
    assert _pytest_args(tree, workers="2")[:4] == ["-m", "pytest", "-n", "2"]
    # the last -n wins, so -n 0 runs in one process; without the plugin -n is not passed at all
    assert _pytest_args(tree, "-n", "0")[-2:] == ["-n", "0"]
    assert _pytest_args(tree, "-p", "no:xdist", "-x") == ["-m", "pytest", "-p", "no:xdist", "-x"]


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run calls scripts/test (which carries the parallel options), as the README says."""
    run = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\nscripts/test " in run and "scripts/test" in readme
    assert "-p no:xdist" in readme and "-n 0" in readme, "the README says how to run the tests serially"
