"""The wheel carries everything an installed dialer reads at run time (package data)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "tests")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=SKIP)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (path,) = (work / "dist").glob("dialer-*.whl")
    return path


@pytest.mark.slow
def test_the_wheel_holds_the_demo_campaign_and_other_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "dialer/campaigns/demo.toml",
        "dialer/campaigns/demo-records.csv",
        "dialer/campaigns/demo-dnc.csv",
        "dialer/campaigns/example.toml",
        "dialer/store/migrations/script.py.mako",
        "dialer/web/templates/campaigns.html",
        "dialer/py.typed",
    ):
        assert needed in names, f"{needed} is missing from {wheel.name}"


@pytest.mark.slow
def test_an_installed_dialer_finds_its_demo_campaign_anywhere(wheel: Path, tmp_path: Path) -> None:
    """Unpacked as pip installs it, and run from a directory without campaigns/, the demo finds its
    campaign file and the records file it names inside the installed package."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import dialer, dialer.demo as d; from dialer.campaignfile import load_campaign_file\n"
        "path = d.find_demo_campaign(); cf = load_campaign_file(path)\n"
        "print(dialer.__file__); print(path); print(cf.records)"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    module, campaign, records = done.stdout.split("\n")[:3]
    assert Path(module).is_relative_to(site)
    assert Path(campaign) == site / "dialer" / "campaigns" / "demo.toml"
    assert Path(records).is_file() and Path(records).is_relative_to(site)
