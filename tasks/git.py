"""What git says about the checkout; an empty answer where there is no git or no repository."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

# The attributes by which git's checkout may write a file's bytes other than its blob's (gitattributes(5))
_CONVERTING = ("text", "crlf", "eol", "filter", "ident", "working-tree-encoding")
_TRUE = ("true", "yes", "on", "1")
_SYSTEM = ("/etc/gitattributes", "/usr/local/etc/gitattributes", "/opt/homebrew/etc/gitattributes")  # git's builds


def git(cwd: Path, *args: str, strip: bool = True, failed: str = "", stdin: str | None = None) -> str:
    """git's output; `failed` when git is missing or fails (an empty answer unless the caller needs to tell)."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, errors="surrogateescape",
                                input=stdin, timeout=30, check=False)  # a file name not in UTF-8: bytes git gave
    except (OSError, subprocess.SubprocessError):
        return failed
    if result.returncode != 0:
        return failed
    return result.stdout.strip() if strip else result.stdout


def converted(cwd: Path, paths: list[str], roots: list[str], listed: list[str]) -> set[str]:
    """Those of `paths` (relative to cwd, in git's work tree) whose bytes git's checkout may have made other than
    their blob's: line endings (core.autocrlf, text and eol), a filter (Git LFS), $Id$ (ident), an encoding. Helm
    packages the work tree's bytes, so a blob id does not stand for them. `listed`: every file git lists below the
    folders `roots`, modified and untracked ones too (a .gitattributes among them applies).

    Asks git for the files' attributes only when an attributes file may apply: without one, core.autocrlf=true alone
    converts (every text file). When git cannot say, every path may be converted."""
    found = git(cwd, "config", "-z", "--get-regexp", r"^core\.(autocrlf|eol|attributesfile)$", strip=False)
    config = {}
    for item in filter(None, found.split("\0")):
        key, given, value = item.partition("\n")
        config[key] = value if given else "true"  # a bare `autocrlf` line is true
    autocrlf = config.get("core.autocrlf", "").lower()
    eol = config.get("core.eol", "native").lower()
    crlf = autocrlf in _TRUE or (autocrlf != "input" and (eol == "crlf" or (eol == "native" and os.name == "nt")))
    if not _attributes_may_apply(cwd, listed, roots, config.get("core.attributesfile")):
        return set(paths) if autocrlf in _TRUE else set()
    said = git(cwd, "check-attr", "-z", "--stdin", *_CONVERTING, stdin="\0".join(paths), strip=False,
               failed="failed").split("\0")
    if said == ["failed"]:
        return set(paths)
    attributes: dict[str, dict[str, str]] = {}
    for path, name, value in zip(said[0::3], said[1::3], said[2::3], strict=False):
        attributes.setdefault(path, {})[name] = value
    return {path for path in paths if _converts(attributes.get(path, {}), autocrlf in _TRUE, crlf)}


def _converts(attributes: Mapping[str, str], autocrlf: bool, crlf: bool) -> bool:
    """Whether git's checkout converts a file with these attributes (gitattributes(5); the legacy crlf attribute
    as text, -text or eol=lf). `crlf`: text files get CRLF line endings (core.autocrlf=true, or core.eol=crlf)."""
    if attributes.get("filter", "unspecified") not in ("unspecified", "unset") or attributes.get("ident") == "set" \
            or attributes.get("working-tree-encoding", "unspecified") not in ("unspecified", "unset"):
        return True
    text, legacy = attributes.get("text", "unspecified"), attributes.get("crlf", "unspecified")
    if text == "unset" or (text == "unspecified" and legacy == "unset"):
        return False  # binary: never converted
    if attributes.get("eol") in ("lf", "crlf"):
        return attributes.get("eol") == "crlf"
    if text == "unspecified" and legacy == "input":
        return False  # eol=lf
    return crlf if text != "unspecified" or legacy != "unspecified" else autocrlf


def _attributes_may_apply(cwd: Path, listed: list[str], roots: list[str], global_file: str | None) -> bool:
    """Whether an attributes file may apply to the files: a .gitattributes among them (every file below `roots`), in
    a folder above a root up to the work tree's top, the repository's info/attributes, the user's or the system's;
    yes when that cannot be told (GIT_DIR, a .git file, no home folder, a system file elsewhere than /etc)."""
    every = "\0" + "\0".join(listed) + "\0"  # searched in C: thousands of paths
    if os.environ.get("GIT_DIR") or "\0.gitattributes\0" in every or "/.gitattributes\0" in every:
        return True
    folder = Path(os.path.realpath(cwd))  # as git sees it: a symlinked charts folder's real parents
    above = {parent for root in roots for parent in Path(os.path.normpath(root)).parents}  # up to cwd
    if any((folder / parent / ".gitattributes").exists() for parent in above if parent != Path(".")):
        return True
    while not (folder / ".git").exists():
        if (folder / ".gitattributes").exists() or folder == folder.parent:
            return True  # above cwd, or no .git found: let git tell
        folder = folder.parent
    home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    user = os.path.expanduser(global_file) if global_file else os.path.join(home, "git", "attributes")
    system = () if os.environ.get("GIT_ATTR_NOSYSTEM", "").lower() in _TRUE else _SYSTEM
    candidates = (folder / ".gitattributes", folder / ".git" / "info" / "attributes", user, *system)
    return (not (folder / ".git").is_dir() or user.startswith("~") or (bool(system) and os.name == "nt")
            or any(Path(candidate).exists() for candidate in candidates))
