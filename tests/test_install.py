"""A normal install, not the checkout: the wheel built from this repository, installed into a fresh
virtual environment elsewhere, runs the demo with the WSDLs and mapping files it carries."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a checkout holds that is not the project: never copied into the build.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "__pycache__", "build", "dist",
                                   "*.egg-info", ".*_cache")


def _not_source(folder: str, names: list[str]) -> set[str]:
    """NOT_SOURCE, and the gateway's state folder (state_dir) at the top: gateway/state/ ships."""
    top = Path(folder) == ROOT
    return set(NOT_SOURCE(folder, names)) | ({"state"} & set(names) if top else set())


def _data_files(folder: Path) -> set[str]:
    """The data files below folder (its Python files aside), as relative paths."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc")}


def _run(*args: str | Path, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> str:
    """Run a command to its end; its output, or a failure that shows it."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


def _call(url: str, body: dict[str, str] | None = None, token: str | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, method="PUT" if data else "GET")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.load(response)


@pytest.mark.slow
def test_the_wheel_installed_elsewhere_runs_the_demo(tmp_path: Path) -> None:
    # Build from a copy, so the checkout gets no build/ folder and nothing can be read from it.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=_not_source)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", source)
    shutil.rmtree(source)
    (wheel,) = (tmp_path / "dist").glob("onvif_gateway-*.whl")

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin/python", "-m", "pip", "install", "-q", wheel)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    where = _run(venv / "bin/python", "-c", "import gateway.wsdl, gateway.mappings as m; "
                 "print(gateway.wsdl.__path__[0]); print(m.__path__[0])", cwd=tmp_path, env=env)
    installed_wsdl, installed_mappings = (Path(p) for p in where.split())
    assert installed_wsdl.is_relative_to(venv)
    assert installed_mappings.is_relative_to(venv)
    # Every data file of the checkout ships (a new WSDL or schema file is not forgotten).
    assert _data_files(installed_wsdl) == _data_files(ROOT / "wsdl")
    assert _data_files(installed_mappings) == _data_files(ROOT / "mappings")

    with subprocess.Popen([venv / "bin/onvif-gateway", "demo", "--port", "0"], cwd=tmp_path,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as demo:
        assert demo.stdout is not None
        try:
            _try_the_demo(demo.stdout)
        finally:
            demo.terminate()


def _try_the_demo(output: IO[str]) -> None:
    """Read the demo's banner, log in and read the device information as the banner says."""
    banner = ""
    while "Ctrl-C stops it" not in banner:
        line = output.readline()
        assert line, f"the installed demo exited: {banner}"
        banner += line
    base = re.search(r"gateway\s+(http://127\.0\.0\.1:\d+)", banner)
    assert base, banner
    login = _call(f"{base[1]}/login", {"username": "admin", "password": "admin"})
    assert isinstance(login, dict)
    info = _call(f"{base[1]}/device-information", token=login["sessionToken"])
    assert isinstance(info, dict)
    assert info["manufacturer"] == "RidgeRun"
