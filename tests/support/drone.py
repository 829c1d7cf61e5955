"""Drone's own ${...} substitution (github.com/drone/envsubst, Debian's golang-github-drone-envsubst-dev),
built from tests/support/drone_envsubst.go offline in GOPATH mode: `.ci/run` installs Go and the library."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("drone_envsubst.go")
GOPATH = "/usr/share/gocode"  # where Debian's golang-*-dev packages put their sources
PACKAGES = "golang-go golang-github-drone-envsubst-dev"


def build_envsubst(directory: Path) -> Path:
    """The substitution program, compiled into `directory`; an AssertionError says what to install."""
    go = shutil.which("go")
    library = Path(GOPATH, "src/github.com/drone/envsubst")
    assert go and library.is_dir(), f"Go and Drone's envsubst are needed: apt-get install {PACKAGES} (.ci/run does)"
    binary = directory / "drone-envsubst"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory), "GOPATH": GOPATH,
           "GO111MODULE": "off", "GOCACHE": str(directory / "go-cache"), "GOPROXY": "off", "CGO_ENABLED": "0"}
    built = subprocess.run([go, "build", "-o", str(binary), str(SOURCE)], env=env, capture_output=True, text=True,
                           timeout=300, check=False)
    assert built.returncode == 0, f"go build of {SOURCE.name} failed:\n{built.stderr}"
    return binary


def substitute(binary: Path, text: str, variables: dict[str, str]) -> str:
    """`text` as Drone evaluates it with these variables: ${NAME}, ${NAME:0:7}, ${NAME,,}, $$ ... ."""
    done = subprocess.run([str(binary)], input=text, env=variables, capture_output=True, text=True, timeout=30,
                          check=False, errors="surrogateescape")  # bytes that are not UTF-8 kept, to be seen
    assert done.returncode == 0, f"Drone's substitution refused the text: {done.stderr}"
    return done.stdout
