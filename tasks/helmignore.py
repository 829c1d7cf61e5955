"""A chart's .helmignore as Helm's pkg/ignore reads it: which paths Helm's loader leaves out of the chart.

Helm's rules are not git's: the first rule that matches decides, a pattern without '/' matches the name alone,
a trailing '/' only folders, a leading '/' the whole path, and a `!rule` leaves out everything it does not
match; patterns are Go's filepath.Match, not shell globs, and '**' is refused. Helm adds templates/.?* last.
Helm refuses a malformed pattern ('[a-', or a byte that is not UTF-8 in a class) when Go's Match of "abc"
reaches the malformed part (so do we, in one line naming the file and the rule, where Helm names neither); one
it lets through matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import ToolError
from .globs import go_match_refuses, go_pattern


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
        if go_match_refuses(rule, "abc"):
            stray = any("\udc80" <= char <= "\udcff" for char in rule)  # a byte that is not UTF-8, surrogateescaped
            quoted = repr(rule.encode("utf-8", "surrogateescape"))[1:] if stray else repr(rule)  # shown as \xNN
            raise ToolError(f"{shown}: line {number}: {quoted}: Helm refuses this pattern (an unclosed or empty "
                            "'[...]', a byte that is not UTF-8 inside one, or a '\\' at the end); close the class, "
                            "write '\\[' for a '[' in a name, or save the file as UTF-8")
        negate, rule = rule.startswith("!"), rule.removeprefix("!")
        folder_only, rule = rule.endswith("/"), rule.removesuffix("/")
        whole, rule = rule.startswith("/") or "/" in rule, rule.removeprefix("/")
        found.append((negate, folder_only, whole, go_pattern(rule, "/")))

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
