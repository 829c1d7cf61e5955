"""Resource quantities as the API server reads them (k8s.io/apimachinery/pkg/api/resource: ParseQuantity,
Quantity.String): `1GB` and `1 Gi` do not parse, and what does is shown as Kubernetes shows it (`1.5` as `1500m`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

QUANTITY_FORMAT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
QUANTITY_SUFFIX = "unable to parse quantity's suffix"
QUANTITY = re.compile(r"([+-]?)0*([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)")  # parseQuantityString
DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


@dataclass(frozen=True)
class Quantity:
    """A resource.Quantity: its exact value (rounded up to nano), the format it prints in, and the string it was
    parsed from when ParseQuantity keeps it (one already canonical)."""

    value: Fraction
    format: str = "DecimalSI"  # DecimalSI (1.5k), BinarySI (1Gi) or DecimalExponent (1e3)
    given: str = ""

    def __str__(self) -> str:
        """CanonicalizeBytes: 1.5 is 1500m, 1024Mi is 1Gi, a BinarySI quantity under 1Ki or with a fraction decimal."""
        if self.given:
            return self.given
        if self.value == 0:
            return "0"
        if self.format == "BinarySI" and abs(self.value) >= 1024 and self.value.denominator == 1:
            number, power = int(self.value), 0
            while abs(number) >= 1024 and number % 1024 == 0:
                number, power = number // 1024, power + 10
            return str(number) + next((s for s, p in BINARY_SI.items() if p == power), "")
        number, exponent = int(self.value * 10**9), -9
        while number % 10 == 0:
            number, exponent = number // 10, exponent + 1
        while exponent % 3:
            number, exponent = number * 10, exponent - 1
        if self.format == "DecimalExponent":
            return f"{number}e{exponent}" if exponent else str(number)
        return str(number) + next((s for s, e in DECIMAL_SI.items() if e == exponent), "")


def parse_quantity(text: str) -> Quantity:
    """ParseQuantity; ValueError with its message (ErrFormatWrong, ErrSuffix). `1GB`, `1 Gi` and `abc` do not parse,
    `1G`, `1Gi`, `1.5Gi`, `500m` and `-1` do."""
    if text == "0":
        return Quantity(Fraction(0), "DecimalSI", text)
    found = QUANTITY.fullmatch(text)
    if not text or not found:
        raise ValueError(QUANTITY_FORMAT)
    sign, number, fraction, suffix = found[1], found[2] or "0", found[3] or "", found[4]
    if suffix in DECIMAL_SI:
        base, exponent, form = 10, DECIMAL_SI[suffix], "DecimalSI"
    elif suffix in BINARY_SI:
        base, exponent, form = 2, BINARY_SI[suffix], "BinarySI"
    elif len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[+-]?[0-9]+", suffix[1:]):
        base, exponent, form = 10, max(-64, min(64, int(suffix[1:]))), "DecimalExponent"  # only compared and printed
    else:
        raise ValueError(QUANTITY_SUFFIX)
    digits = number + fraction
    value = Fraction(int(digits) * (-1 if sign == "-" else 1), 10 ** len(fraction)) * Fraction(base) ** exponent
    if form == "BinarySI":  # the int64 fast path, which keeps a canonical string as it was given
        fast = not fraction and 14 - len(number) - exponent * 3 // 10 >= 0 and int(digits) << exponent < 2**63
        keeps = int(digits) & 7 != 0
    else:
        scale = exponent - len(fraction)
        fast = 18 - len(digits) >= 0 and scale >= -9
        keeps = scale % 3 == 0 and not digits.endswith("000") and digits[0] != "0"
    if fast:
        return Quantity(value, form, text if keeps else "")
    nanos = value * 10**9
    magnitude = Fraction(-(-abs(nanos) // 1), 10**9)  # rounded up, away from zero
    if form == "BinarySI":
        magnitude = min(magnitude, Fraction(2**63 - 1))
        form = "DecimalSI" if magnitude < 1 else form
    return Quantity(-magnitude if value < 0 else magnitude, form)


def quantity(value: Any) -> Quantity:
    """A JSON value as Quantity.UnmarshalJSON takes it: null is zero, a number is its text, a string is trimmed;
    anything else does not match the format."""
    if value is None:
        return Quantity(Fraction(0))
    if isinstance(value, str):
        return parse_quantity(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_quantity(json.dumps(value))
    raise ValueError(QUANTITY_FORMAT)
