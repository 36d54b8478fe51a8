"""Identity numbers: resident identity numbers (居民身份证号码) and unified social credit
codes (统一社会信用代码): validation at intake, and masking for answers and log lines.

The check characters are computed by python-stdnum (`stdnum.cn.ric`, `stdnum.cn.uscc`); the
format, date and alphabet rules, the error codes and the messages are ours (docs/rules.md §8,
"Identity numbers"). Error messages never repeat the number itself, so they are safe to log.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

__all__ = [
    "INVALID_CREDIT_CODE",
    "INVALID_ID_NUMBER",
    "LEGACY_ID_NUMBER",
    "InvalidIdentifier",
    "mask_identifier",
    "mask_phone",
    "present_identifier",
    "redact",
    "validate_credit_code",
    "validate_resident_id",
]

INVALID_ID_NUMBER: Final = "INVALID_ID_NUMBER"
LEGACY_ID_NUMBER: Final = "LEGACY_ID_NUMBER"
INVALID_CREDIT_CODE: Final = "INVALID_CREDIT_CODE"

_SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
_EARLIEST_BIRTH_YEAR: Final = 1900
# GB 32100-2015 alphabet: digits and capital letters without I, O, Z, S, V.
_CREDIT_ALPHABET: Final = frozenset("0123456789ABCDEFGHJKLMNPQRTUWXY")
_ASCII_DIGITS: Final = frozenset("0123456789")


class InvalidIdentifier(ValueError):
    """An identity number or credit code refused at intake.

    `code` is a stable machine code for API answers (INVALID_ID_NUMBER, LEGACY_ID_NUMBER,
    INVALID_CREDIT_CODE); the message is for people and never contains the number.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _normalise(value: str) -> str:
    # Chinese input methods in full-width mode type "１１０１…" or "ｘ"; NFKC folds those to
    # ASCII so a correct number is not refused for how it was typed.
    return unicodedata.normalize("NFKC", value).strip().upper()


def _is_ascii_digits(value: str) -> bool:
    # str.isdigit() accepts other scripts' digits (e.g. Arabic-Indic); we need 0-9 only.
    return bool(value) and all(c in _ASCII_DIGITS for c in value)


def validate_resident_id(number: str, *, today: date | None = None) -> str:
    """Validate a resident identity number (居民身份证号码, GB 11643-1999).

    18 characters: 17 digits and a check character (0-9 or X, lower-case x accepted);
    characters 7-14 are the birth date YYYYMMDD, which must exist, not be before 1900 and
    not be after `today` (default: today in Asia/Shanghai). Returns the normalised number
    (upper-case X, surrounding blanks removed, full-width characters folded to ASCII).

    Raises InvalidIdentifier with code LEGACY_ID_NUMBER for a 15-digit legacy number, and
    INVALID_ID_NUMBER for anything else that fails.
    """
    if not isinstance(number, str):
        raise InvalidIdentifier(INVALID_ID_NUMBER, "Resident identity number must be text.")
    value = _normalise(number)
    if len(value) == 15 and _is_ascii_digits(value):
        raise InvalidIdentifier(
            LEGACY_ID_NUMBER,
            "15-digit resident identity numbers (一代身份证号码) are no longer accepted; "
            "please use the 18-digit resident identity number.",
        )
    if len(value) != 18 or not _is_ascii_digits(value[:17]) or value[17] not in "0123456789X":
        raise InvalidIdentifier(
            INVALID_ID_NUMBER,
            "Resident identity number (居民身份证号码) must be 18 characters: "
            "17 digits followed by a digit or X.",
        )
    birth = _birth_date(value)
    if today is None:
        today = datetime.now(_SHANGHAI).date()
    if birth is None or birth.year < _EARLIEST_BIRTH_YEAR or birth > today:
        raise InvalidIdentifier(
            INVALID_ID_NUMBER,
            "Resident identity number (居民身份证号码) does not contain a valid birth date "
            "(characters 7-14, YYYYMMDD).",
        )
    # Only stdnum's check-digit function: ric.validate() also requires the region code to be
    # in its own bundled list, which would refuse people from newly created districts. Imported
    # here: every function imports this module (log redaction) and few validate numbers.
    from stdnum.cn import ric

    if ric.calc_check_digit(value) != value[17]:
        raise InvalidIdentifier(
            INVALID_ID_NUMBER,
            "Resident identity number (居民身份证号码) check character does not match; "
            "please check the number for typing errors.",
        )
    return value


def _birth_date(value: str) -> date | None:
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def validate_credit_code(code: str) -> str:
    """Validate a unified social credit code (统一社会信用代码, GB 32100-2015).

    18 characters from "0123456789ABCDEFGHJKLMNPQRTUWXY" (no I, O, Z, S, V); the 18th is
    the check character over the first 17. Lower case is accepted. Returns the code in
    upper case. Raises InvalidIdentifier with code INVALID_CREDIT_CODE when it fails.
    """
    if not isinstance(code, str):
        raise InvalidIdentifier(INVALID_CREDIT_CODE, "Unified social credit code must be text.")
    value = _normalise(code)
    if len(value) != 18:
        raise InvalidIdentifier(
            INVALID_CREDIT_CODE,
            "Unified social credit code (统一社会信用代码) must be 18 characters.",
        )
    bad = sorted(set(value) - _CREDIT_ALPHABET)
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise InvalidIdentifier(
            INVALID_CREDIT_CODE,
            f"Unified social credit code (统一社会信用代码) contains characters that are not "
            f"used in codes: {shown}. Codes use digits and capital letters except I, O, Z, S, V.",
        )
    # Only stdnum's check-digit function: uscc.validate() also demands digits in the first 8
    # places, which refuses registration-authority codes such as N (农业) or Y (其他).
    from stdnum.cn import uscc

    if uscc.calc_check_digit(value) != value[17]:
        raise InvalidIdentifier(
            INVALID_CREDIT_CODE,
            "Unified social credit code (统一社会信用代码) check character does not match; "
            "please check the code for typing errors.",
        )
    return value


def mask_identifier(value: str) -> str:
    """Mask an identity number or credit code: keep the first 4 and last 4 characters.

    "110101199003071234" -> "1101**********1234". Strings of 8 characters or fewer would be
    shown whole that way, so they become all stars.
    """
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def present_identifier(value: str | None, viewer_is_owner_or_handler: bool) -> str | None:
    """An identity number or credit code as an answer shows it: in full to its owner and to
    the staff handling the case, masked (`mask_identifier`) to anyone else; None stays None."""
    if value is None or viewer_is_owner_or_handler:
        return value
    return mask_identifier(value)


def mask_phone(phone: str) -> str:
    """Mask a mobile number (手机号): keep the first 3 and last 4 digits.

    "13812345678" -> "138****5678". Strings of 7 characters or fewer become all stars.
    """
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_personal(value: str) -> str:
    """Mask any personal value shown to someone who does not need it: an identity number or
    credit code as `mask_identifier`, a mobile number as `mask_phone`, any other text (a name,
    an address) all but its first character."""
    if _EIGHTEEN_RE.fullmatch(value) or _LEGACY_ID_RE.fullmatch(value):
        return mask_identifier(value)
    if _MOBILE_RE.fullmatch(value):
        return redact(value)
    return value[:1] + "*" * (len(value) - 1)


# Boundaries are explicit ASCII lookarounds, not \b: in Python's Unicode regexes Chinese
# characters are word characters, so "身份证号110101…" would have no \b before the digits.
_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"

# An 18-character token of letters and digits with at least one digit: every resident
# identity number and credit code, including mistyped ones (a wrong check character, an O
# typed for a 0) that intake refuses and may log. Words like "ApplicationSubmitted" have
# no digit and are left alone. Application numbers (办件编号, `YW` + 16 digits) are 18
# characters too, but no identifier has a letter second, and they are the logs' correlation
# id, so they stay readable.
_EIGHTEEN_RE: Final = re.compile(
    _NOT_ALNUM_BEFORE + r"(?!YW[0-9]{16})(?=[A-Za-z]*[0-9])[0-9A-Za-z]{18}" + _NOT_ALNUM_AFTER
)
# A legacy 15-digit identity number: 6-digit region, YYMMDD, 3-digit sequence. The date
# shape keeps other 15-digit runs (order numbers, amounts in fen) readable.
_LEGACY_ID_RE: Final = re.compile(
    _NOT_ALNUM_BEFORE
    + r"[0-9]{6}[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}"
    + _NOT_ALNUM_AFTER
)
# A mainland mobile number, optionally with the +86 / 86 country code in front.
_MOBILE_RE: Final = re.compile(
    _NOT_ALNUM_BEFORE + r"(?P<prefix>\+?86[ -]?)?(?P<number>1[3-9][0-9]{9})" + _NOT_ALNUM_AFTER
)


def redact(text: str) -> str:
    """Mask identity numbers, credit codes and mobile numbers inside free text (log lines).

    18-character identity numbers and credit codes (valid or not) and legacy 15-digit
    identity numbers get `mask_identifier`, 11-digit mainland mobile numbers get
    `mask_phone`. Digit runs of other lengths are left as they are.
    """
    text = _EIGHTEEN_RE.sub(lambda m: mask_identifier(m.group(0)), text)
    text = _LEGACY_ID_RE.sub(lambda m: mask_identifier(m.group(0)), text)
    return _MOBILE_RE.sub(lambda m: (m.group("prefix") or "") + mask_phone(m.group("number")), text)
