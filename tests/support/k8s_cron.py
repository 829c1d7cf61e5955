"""A CronJob's schedule as the API server parses it (robfig/cron/v3 ParseStandard, which batch validation calls):
the error it gives for a schedule that does not parse, in its words."""

from __future__ import annotations

import re

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
CRON_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (  # minute, hour, day of month, month, day of week (spec.go)
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, {m: i for i, m in enumerate(MONTHS, 1)}),
    (0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}))
CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def cron_error(schedule: str) -> str | None:
    """robfig/cron/v3 ParseStandard's error for a schedule (its TZ= prefix and @every's duration taken as valid)."""
    if schedule.startswith(("TZ=", "CRON_TZ=")) and " " in schedule:
        schedule = schedule[schedule.index(" "):].strip()
    if schedule.startswith("@"):
        return None if schedule in CRON_DESCRIPTORS or schedule.startswith("@every ") else \
            f"unrecognized descriptor: {schedule}"
    fields = schedule.split()
    if len(fields) != len(CRON_FIELDS):
        return f"expected exactly {len(CRON_FIELDS)} fields, found {len(fields)}: [{' '.join(fields)}]"
    try:
        for field, (low, high, names) in zip(fields, CRON_FIELDS, strict=True):
            for expression in filter(None, field.split(",")):
                _cron_range(expression, low, high, names)
    except ValueError as error:
        return str(error)
    return None


def _cron_range(expression: str, low: int, high: int, names: dict[str, int]) -> None:
    """getRange: number | number "-" number [ "/" number ], or * and ?; ValueError with its message."""
    range_and_step = expression.split("/")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = end = _cron_number(low_and_high[0], names)
        if len(low_and_high) == 2:
            end = _cron_number(low_and_high[1], names)
        elif len(low_and_high) > 2:
            raise ValueError(f"too many hyphens: {expression}")
    step = 1
    if len(range_and_step) == 2:
        step = _cron_number(range_and_step[1], {})
        end = high if len(low_and_high) == 1 else end
    elif len(range_and_step) > 2:
        raise ValueError(f"too many slashes: {expression}")
    for broken, message in ((start < low, f"beginning of range ({start}) below minimum ({low})"),
                            (end > high, f"end of range ({end}) above maximum ({high})"),
                            (start > end, f"beginning of range ({start}) beyond end of range ({end})"),
                            (step == 0, "step of range should be a positive number")):
        if broken:
            raise ValueError(f"{message}: {expression}")


def _cron_number(text: str, names: dict[str, int]) -> int:
    """parseIntOrName and mustParseInt, with strconv.Atoi's errors."""
    if text.lower() in names:
        return names[text.lower()]
    if not re.fullmatch(r"[+-]?[0-9]+", text) or abs(int(text)) >= 2**63:
        why = "value out of range" if re.fullmatch(r"[+-]?[0-9]+", text) else "invalid syntax"
        raise ValueError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": {why}')
    if int(text) < 0:
        raise ValueError(f"negative number ({int(text)}) not allowed: {text}")
    return int(text)
