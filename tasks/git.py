"""What git says about the checkout; an empty answer where there is no git or no repository."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(cwd: Path, *args: str, strip: bool = True, failed: str = "") -> str:
    """git's output; `failed` when git is missing or fails (an empty answer unless the caller needs to tell)."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, errors="surrogateescape",
                                timeout=30, check=False)  # a file name not in UTF-8 is bytes git gave, kept
    except (OSError, subprocess.SubprocessError):
        return failed
    if result.returncode != 0:
        return failed
    return result.stdout.strip() if strip else result.stdout
