"""A chart's .helmignore as Helm's pkg/ignore reads it: which paths Helm's loader leaves out of the chart.

Helm's rules are not git's: the first rule that matches decides, a pattern without '/' matches the name alone,
a trailing '/' only folders, a leading '/' the whole path, and a `!rule` leaves out everything it does not
match; patterns are Go's filepath.Match, not shell globs, and '**' is refused. Helm adds templates/.?* last.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from .errors import ToolError


def rules(lines: list[str], shown: str) -> Callable[[str, bool], bool]:
    """Whether Helm's loader leaves a path of the chart out (PATH, is a folder), by the .helmignore `lines`
    (`shown` names the file in messages), with Helm's default rule last."""
    found: list[tuple[bool, bool, bool, re.Pattern[str] | None]] = []
    for number, line in enumerate([*lines, "templates/.?*"], 1):
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        if "**" in rule:
            raise ToolError(f"{shown}: line {number}: {rule!r}: Helm does not support '**' (double-star); name the "
                            "folder ('tmp/') or each level ('*/*.bak')")
        negate, rule = rule.startswith("!"), rule.removeprefix("!")
        folder_only, rule = rule.endswith("/"), rule.removesuffix("/")
        whole, rule = rule.startswith("/") or "/" in rule, rule.removeprefix("/")
        found.append((negate, folder_only, whole, _glob(rule)))

    def ignored(rel: str, is_dir: bool) -> bool:
        name = rel.rpartition("/")[2]
        for negate, folder_only, whole, pattern in found:
            hit = pattern is not None and pattern.fullmatch(rel if whole else name) is not None
            if negate and ((folder_only and not is_dir) or not hit):
                return True
            if not negate and hit and (is_dir or not folder_only):
                return True
        return False

    return ignored


@functools.lru_cache(maxsize=4096)  # most charts' .helmignore holds the same rules (helm create's)
def _glob(pattern: str) -> re.Pattern[str] | None:
    """Go's filepath.Match pattern as a regular expression: '*' and '?' never match '/', '[^...]' negates, '\\'
    escapes. None for a pattern Go finds malformed: it never matches anything (Go reports the flaw once matching
    reaches it, and Helm then counts the rule as no match; if it reaches it on "abc", Helm refuses the chart)."""
    out, at = [], 0

    def member(at: int) -> tuple[str, int]:  # Go's getEsc: one character of a class, escaped or not
        if at >= len(pattern) or pattern[at] in "-]":
            raise ValueError(pattern)
        at += pattern[at] == "\\"
        if at + 1 >= len(pattern):  # nothing left to close the class
            raise ValueError(pattern)
        return pattern[at], at + 1

    try:
        while at < len(pattern):
            char, at = pattern[at], at + 1
            if char == "*":
                out.append("[^/]*")
            elif char == "?":
                out.append("[^/]")
            elif char == "\\":
                if at == len(pattern):
                    raise ValueError(pattern)
                out.append(re.escape(pattern[at]))
                at += 1
            elif char == "[":
                negated = pattern.startswith("^", at)
                at += negated
                ranges: list[str] = []
                while not (ranges and pattern.startswith("]", at)):
                    low, at = member(at)
                    high = low
                    if pattern[at] == "-":
                        high, at = member(at + 1)
                    ranges.append(f"{re.escape(low)}-{re.escape(high)}" if low <= high else "")  # Go: matches nothing
                at += 1
                members = "".join(ranges)
                out.append(f"[{'^' if negated else ''}{members}]" if members else "(?s:.)" if negated else "(?!)")
            else:
                out.append(re.escape(char))
    except ValueError:
        return None
    return re.compile("".join(out))
