"""Debian's headless chromium, kept on loopback: what a person's browser makes of a page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# Everything beyond loopback goes to a closed port; no update, sync, metrics or safe-browsing traffic.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
         "--metrics-recording-only", "--no-pings", "--disable-domain-reliability", "--disable-breakpad",
         "--disable-client-side-phishing-detection", "--proxy-server=http://127.0.0.1:9"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise AssertionError("chromium is not installed: .ci/run installs Debian's chromium package")
    return found


def dom(url: str, profile: Path) -> str:
    """The page's DOM after the browser loaded it (and ran whatever script it would run)."""
    result = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                            capture_output=True, text=True, timeout=120, check=True)
    return result.stdout


def screenshot(url: str, profile: Path, png: Path) -> Path:
    subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900",
                    f"--screenshot={png}", url], capture_output=True, timeout=120, check=True)
    return png
