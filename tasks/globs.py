"""Go's path.Match patterns as Python regular expressions: Helm reads .helmignore rules with filepath.Match, and
Drone's envsubst reads ${NAME#GLOB} with its copy of path.Match, so both match here what they match there."""

from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=4096)  # most charts' .helmignore holds the same rules (helm create's)
def go_pattern(pattern: str, separator: str = "") -> re.Pattern[str] | None:
    """`pattern` as Go matches it: '*' any run and '?' any one character, neither matching `separator` (filepath's
    '/'; Drone's copy has none), [a-z] and [^a-z] classes, '\\' escaping the next character. None for a pattern Go
    finds malformed (an unclosed class, a class without a character, a '\\' at the end, a byte that is not UTF-8 in
    a class: Go's getEsc decodes each member and refuses an invalid one; a pattern read with surrogateescape holds
    such a byte as a lone surrogate)."""
    one = f"[^{re.escape(separator)}]" if separator else "."
    out, at = [], 0

    def member(at: int) -> tuple[str, int]:  # Go's getEsc: one character of a class, escaped or not
        if at >= len(pattern) or pattern[at] in "-]":
            raise ValueError(pattern)
        at += pattern[at] == "\\"
        if at + 1 >= len(pattern) or "\ud800" <= pattern[at] <= "\udfff":  # nothing to close the class; not UTF-8
            raise ValueError(pattern)
        return pattern[at], at + 1

    try:
        while at < len(pattern):
            char, at = pattern[at], at + 1
            if char in "*?":
                out.append(one + "*" if char == "*" else one)
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
                out.append(f"[{'^' if negated else ''}{members}]" if members else "." if negated else "(?!)")
            else:
                out.append(re.escape(char))
    except ValueError:
        return None
    return re.compile("".join(out), re.DOTALL)


@functools.lru_cache(maxsize=4096)  # as go_pattern: charts share their rules
def go_match_refuses(pattern: str, name: str) -> bool:
    """Whether Go's filepath.Match(pattern, name) answers ErrBadPattern. It checks a chunk (a run between '*'s)
    only when the match reaches it, so whether a malformed pattern is refused depends on the name: Helm refuses a
    .helmignore rule when its match of "abc" reaches the malformed part (the rest match nothing)."""
    while pattern:
        star, chunk, pattern = _chunk(pattern)
        if star and not chunk:  # a trailing '*': Go answers at once
            return False
        compiled = go_pattern(chunk, "/")
        if compiled is None:
            return True
        found = compiled.match(name)
        if found and (found.end() == len(name) or pattern):
            name = name[found.end():]
            continue
        for skip in range(1, len(name) + 1) if star else ():  # '*' skips up to the next '/'
            if name[skip - 1] == "/":
                return False
            found = compiled.match(name, skip)
            if found and (pattern or found.end() == len(name)):
                name = name[found.end():]
                break
        else:
            return False
    return False


def _chunk(pattern: str) -> tuple[bool, str, str]:
    """Go's scanChunk: whether `pattern` starts with '*', the run after it up to the next '*' outside a class,
    and the rest."""
    rest = pattern.lstrip("*")
    inside, at = False, 0
    while at < len(rest):
        char = rest[at]
        if char == "\\":
            at += at + 1 < len(rest)
        elif char in "[]":
            inside = char == "["
        elif char == "*" and not inside:
            break
        at += 1
    return len(rest) < len(pattern), rest[:at], rest[at:]
