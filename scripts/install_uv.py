"""Install uv for the current user from PyPI, with nothing but Python's standard library.

For a machine whose only Python is the system's: Debian's and Ubuntu's refuse `pip install`
(PEP 668, "externally-managed-environment"), and a fresh Debian has neither pip nor venv. This
asks PyPI for uv's newest release, downloads the wheel built for this machine, checks it against
the SHA-256 that PyPI lists, and copies the `uv` and `uvx` programs in it to ~/.local/bin (or
$XDG_BIN_HOME), where uv's own installer puts them. No Python installation is changed. When
`uv` is on PATH already, it does nothing.

    python3 scripts/install_uv.py && export PATH="$HOME/.local/bin:$PATH"
"""

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, cast

RELEASE_URL = "https://pypi.org/pypi/uv/json"
PROGRAMS = ("uv", "uvx")


def bin_dir() -> Path:
    return Path(os.environ.get("XDG_BIN_HOME") or Path.home() / ".local" / "bin")


def fits_this_machine(platform_tag: str) -> bool:
    """Whether a wheel's platform tag (`manylinux_2_17_x86_64`, `macosx_11_0_arm64`) runs here."""
    machine = platform.machine().lower()
    if sys.platform == "darwin":
        return re.fullmatch(rf"macosx_\d+_\d+_{machine}", platform_tag) is not None
    if sys.platform != "linux":
        return False
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    libc, version = platform.libc_ver()
    if libc != "glibc":
        return re.fullmatch(rf"musllinux_\d+_\d+_{machine}", platform_tag) is not None
    here = tuple(int(part) for part in version.split(".")[:2])
    if platform_tag == f"manylinux2014_{machine}":
        return here >= (2, 17)
    needed = re.fullmatch(rf"manylinux_(\d+)_(\d+)_{machine}", platform_tag)
    return needed is not None and here >= (int(needed[1]), int(needed[2]))


def pick_wheel(release: dict[str, Any]) -> dict[str, Any]:
    for file in release["urls"]:
        name = file["filename"]
        if file["packagetype"] == "bdist_wheel":
            platform_tags = name.removesuffix(".whl").split("-")[-1].split(".")
            if any(fits_this_machine(tag) for tag in platform_tags):
                return cast(dict[str, Any], file)
    sys.exit(
        f"uv {release['info']['version']} has no wheel for {sys.platform} {platform.machine()}:"
        " see https://docs.astral.sh/uv/getting-started/installation/"
    )


def install(wheel: Path, target: Path) -> None:
    """Copy the programs out of the wheel's `uv-X.data/scripts/`, each replaced in one step."""
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for program in PROGRAMS:
            [member] = [m for m in archive.namelist() if m.endswith(f".data/scripts/{program}")]
            with tempfile.NamedTemporaryFile(dir=target, delete=False) as partial:
                partial.write(archive.read(member))
            os.chmod(partial.name, 0o755)  # noqa: S103 (a program, as installers make them)
            os.replace(partial.name, target / program)


def main() -> None:
    if found := shutil.which("uv"):
        print(f"uv is on PATH already: {found}")
        return
    with urllib.request.urlopen(RELEASE_URL, timeout=60) as response:
        release = json.load(response)
        release_url = response.geturl()
    wheel = pick_wheel(release)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / wheel["filename"]
        # Absolute on pypi.org; a mirror may give it relative to the release's URL.
        url = urllib.parse.urljoin(release_url, wheel["url"])
        if urllib.parse.urlsplit(url).scheme != "https":
            sys.exit(f"PyPI gave {url} for uv's wheel, which is not https: not installed")
        with urllib.request.urlopen(url, timeout=300) as response:  # noqa: S310 (https, checked)
            path.write_bytes(response.read())
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != wheel["digests"]["sha256"]:
            sys.exit(f"{wheel['filename']} does not match the SHA-256 PyPI lists: not installed")
        install(path, bin_dir())
    version = subprocess.run(
        [bin_dir() / "uv", "--version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    print(
        f"{version} installed in {bin_dir()}. New login shells find it there on Debian and"
        f' Ubuntu; in this one: export PATH="{bin_dir()}:$PATH"'
    )


if __name__ == "__main__":
    main()
