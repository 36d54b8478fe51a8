"""证照标识: the identifier of an electronic certificate (电子证照), by GB/T 36904-2018 电子证照
标识规范 (the metadata are GB/T 36903-2018's, see `yiwang.fulfilment.certificates`).

The identifier::

    1.2.156.3005.2.<licence type code>.<issuing body code>.<serial>.<version>.<check>

- licence type code (证照类型代码): the defining body's 18-character unified social credit code
  and a 3-digit number. The catalogue does not carry it yet, so it is derived from the item
  code, which begins with the implementing department's credit code and ends with a serial
  (`11440100MB2D00127W-XK-0007` → `11440100MB2D00127W007`);
- issuing body code (颁证单位代码): the issuing department's credit code (the item's lead
  department, looked up in the department registry shipped with the catalogue);
- serial (流水号): `<year><8 digits>`, from an atomic counter per issuing body and year;
- version: `001` for a first issue;
- check: ISO 7064 MOD 37,36 (`stdnum.iso7064.mod_37_36`) over type code + body code + serial +
  version, without the dots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from yiwang.platform.identity import InvalidIdentifier, validate_credit_code

if TYPE_CHECKING:
    from yiwang.catalogue.items import ItemVersion

PREFIX = "1.2.156.3005.2."
"""The OID arc of electronic certificates (电子证照) under which every identifier sits."""
FIRST_VERSION = "001"
_CODE_CHARS = re.compile(r"^[0-9A-Z]+$")
_CREDIT_CODE = re.compile(r"^[0-9A-Z]{18}$")


class InvalidCertificateNumber(ValueError):
    """A certificate number that is not a well-formed identifier, or whose check fails."""


@dataclass(frozen=True)
class CertificateNumber:
    """The parts of a certificate identifier."""

    licence_type_code: str
    issuing_body_code: str
    serial: str
    version: str
    check: str

    def __str__(self) -> str:
        return (f"{PREFIX}{self.licence_type_code}.{self.issuing_body_code}.{self.serial}."
                f"{self.version}.{self.check}")


def check_character(licence_type_code: str, issuing_body_code: str, serial: str,
                    version: str) -> str:
    """ISO 7064 MOD 37,36 over the four parts concatenated without the dots."""
    # stdnum (like cryptography below) is imported where it is used: the API imports this
    # module for the application view's certificate pointer, which needs neither.
    from stdnum.iso7064 import mod_37_36

    return mod_37_36.calc_check_digit(licence_type_code + issuing_body_code + serial + version)


def make_number(licence_type_code: str, issuing_body_code: str, serial: str,
                version: str = FIRST_VERSION) -> str:
    """The identifier of a certificate, with its check character."""
    check = check_character(licence_type_code, issuing_body_code, serial, version)
    number = str(CertificateNumber(licence_type_code, issuing_body_code, serial, version, check))
    parse_number(number)  # refuses parts that break the structure
    return number


def parse_number(number: Any) -> CertificateNumber:
    """The parts of a certificate number; `InvalidCertificateNumber` saying what is wrong."""
    if not isinstance(number, str) or not number.startswith(PREFIX):
        raise InvalidCertificateNumber(f"a certificate number begins with {PREFIX}")
    parts = number[len(PREFIX):].split(".")
    if len(parts) != 5:
        raise InvalidCertificateNumber("a certificate number has five parts after the prefix: "
                                       "type code, issuing body, serial, version, check")
    type_code, body_code, serial, version, check = parts
    if not (len(type_code) == 21 and _CREDIT_CODE.match(type_code[:18])
            and type_code[18:].isdigit() and type_code[18:].isascii()):
        raise InvalidCertificateNumber("the licence type code is a credit code and 3 digits")
    if not _CREDIT_CODE.match(body_code):
        raise InvalidCertificateNumber("the issuing body code is an 18-character credit code")
    if not _CODE_CHARS.match(serial):
        raise InvalidCertificateNumber("the serial is digits and capital letters")
    if not (len(version) == 3 and version.isdigit() and version.isascii()):
        raise InvalidCertificateNumber("the version is 3 digits")
    if len(check) != 1 or not _CODE_CHARS.match(check):
        raise InvalidCertificateNumber("the check is one digit or capital letter")
    if check_character(type_code, body_code, serial, version) != check:
        raise InvalidCertificateNumber("the check character does not match the number")
    return CertificateNumber(type_code, body_code, serial, version, check)


def licence_type_code(item: ItemVersion, issuing_body_code: str) -> str:
    """证照类型代码 of the licence an item issues: derived from the item code (the catalogue has
    no field for it yet): its leading credit code, else the issuing body's, and the last three
    digits of its serial, else `001`."""
    head, _, rest = item.code.partition("-")
    defining_body = head if is_credit_code(head) else issuing_body_code
    tail = rest.rsplit("-", 1)[-1] if rest else ""
    number = tail[-3:].zfill(3) if tail.isdigit() and tail.isascii() else "001"
    return defining_body + number


def is_credit_code(value: str) -> bool:
    """Whether `value` is a valid unified social credit code (统一社会信用代码), as it is."""
    try:
        return validate_credit_code(value) == value
    except InvalidIdentifier:
        return False


