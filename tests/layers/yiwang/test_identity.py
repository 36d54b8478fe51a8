"""Identity numbers at intake (docs/rules.md §8) and masking for logs."""

from datetime import date

import pytest

from yiwang.platform import identity
from yiwang.platform.identity import InvalidIdentifier

# GB 11643-1999's weights and table, used only to build numbers whose check character is right,
# so that the test exercises the rule it names (a bad date, a future date) and not the sum.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _with_check(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


# --- resident identity numbers (居民身份证号码) ---------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002X",  # the sample printed in GB 11643-1999
        "110101199003071233",  # Dongcheng, Beijing, born 1990-03-07
        "440106200002290016",  # Guangzhou, born on a leap day
    ],
)
def test_valid_resident_id_is_accepted(number: str) -> None:
    assert identity.validate_resident_id(number) == number


def test_lower_case_x_is_accepted_and_returned_upper_case() -> None:
    assert identity.validate_resident_id("11010519491231002x") == "11010519491231002X"


def test_blanks_and_full_width_digits_typed_by_an_ime_are_normalised() -> None:
    assert identity.validate_resident_id(" １１０１０５１９４９１２３１００２ｘ ") == (
        "11010519491231002X"
    )


def test_wrong_check_character_is_refused() -> None:
    with pytest.raises(InvalidIdentifier) as err:
        identity.validate_resident_id("110101199003071234")  # the right one ends in 3
    assert err.value.code == "INVALID_ID_NUMBER"
    assert "check character" in str(err.value)
    assert "110101199003071234" not in str(err.value)  # messages are safe to log


@pytest.mark.parametrize(
    "first17",
    [
        "11010119900230123",  # 30 February
        "11010119901301123",  # month 13
        "11010120230229123",  # 29 February in a common year
        "11010118991231123",  # before 1900
        "11010120990101123",  # in the future
    ],
)
def test_impossible_birth_date_is_refused_even_with_a_correct_check_character(
    first17: str,
) -> None:
    with pytest.raises(InvalidIdentifier) as err:
        identity.validate_resident_id(_with_check(first17))
    assert err.value.code == "INVALID_ID_NUMBER"
    assert "birth date" in str(err.value)


def test_gb_sample_born_in_1880_is_refused_by_our_1900_floor() -> None:
    with pytest.raises(InvalidIdentifier) as err:
        identity.validate_resident_id("440524188001010014")
    assert err.value.code == "INVALID_ID_NUMBER"


def test_birth_date_may_be_today_but_not_tomorrow() -> None:
    today = date(2026, 3, 1)
    assert identity.validate_resident_id(_with_check("11010120260301123"), today=today)
    with pytest.raises(InvalidIdentifier):
        identity.validate_resident_id(_with_check("11010120260302123"), today=today)


def test_legacy_15_digit_number_is_refused_with_its_own_code() -> None:
    with pytest.raises(InvalidIdentifier) as err:
        identity.validate_resident_id("110101900307123")
    assert err.value.code == "LEGACY_ID_NUMBER"
    assert "15-digit" in str(err.value)
    assert "18-digit" in str(err.value)


@pytest.mark.parametrize(
    "number",
    [
        "",
        "11010119900307123",  # 17 characters
        "1101011990030712333",  # 19 characters
        "11010119900307123A",  # check character other than X
        "1101011990X3071233",  # letter among the digits
        "١١٠١٠١١٩٩٠٠٣٠٧١٢٣٣",  # Arabic-Indic digits are not ID digits
    ],
)
def test_malformed_resident_id_is_refused(number: str) -> None:
    with pytest.raises(InvalidIdentifier) as err:
        identity.validate_resident_id(number)
    assert err.value.code == "INVALID_ID_NUMBER"


def test_invalid_identifier_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        identity.validate_resident_id("not a number")


# --- unified social credit codes (统一社会信用代码) -----------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",  # the widely published sample code
        "91110000600037341L",
        "N2110105MA0123456L",  # registration authority N (农业): letters allowed up front
    ],
)
def test_valid_credit_code_is_accepted(code: str) -> None:
    assert identity.validate_credit_code(code) == code


def test_credit_code_is_normalised_to_upper_case() -> None:
    assert identity.validate_credit_code("91350100m000100y43") == "91350100M000100Y43"


def test_credit_code_with_wrong_check_character_is_refused() -> None:
    with pytest.raises(InvalidIdentifier) as err:
        identity.validate_credit_code("91350100M000100Y44")
    assert err.value.code == "INVALID_CREDIT_CODE"
    assert "check character" in str(err.value)


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
def test_letters_outside_the_alphabet_are_refused(letter: str) -> None:
    code = "91350100M000100Y43".replace("M", letter)
    with pytest.raises(InvalidIdentifier) as err:
        identity.validate_credit_code(code)
    assert err.value.code == "INVALID_CREDIT_CODE"
    assert repr(letter) in str(err.value)


@pytest.mark.parametrize(
    "code", ["", "91350100M000100Y4", "91350100M000100Y433", "9135-0100M000100Y4"]
)
def test_credit_code_of_wrong_length_or_with_punctuation_is_refused(code: str) -> None:
    with pytest.raises(InvalidIdentifier) as err:
        identity.validate_credit_code(code)
    assert err.value.code == "INVALID_CREDIT_CODE"


def test_resident_id_is_not_a_credit_code_unless_its_check_fits() -> None:
    # Both are 18 characters, but the check characters differ: an applicant who types the
    # ID number into the credit-code field is told so.
    with pytest.raises(InvalidIdentifier):
        identity.validate_credit_code("110101199003071233")


# --- masking ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("110101199003071234", "1101**********1234"),
        ("11010519491231002X", "1101**********002X"),
        ("91350100M000100Y43", "9135**********0Y43"),
        ("12345678", "********"),
        ("123", "***"),
        ("", ""),
    ],
)
def test_mask_identifier(value: str, masked: str) -> None:
    assert identity.mask_identifier(value) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13812345678", "138****5678"), ("1234567", "*******")],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert identity.mask_phone(phone) == masked


def test_redact_masks_identifiers_and_phone_in_a_log_line() -> None:
    line = (
        "intake applicant=110101199003071233 mobile=13812345678 "
        "company=91350100M000100Y43 status=OK"
    )
    assert identity.redact(line) == (
        "intake applicant=1101**********1233 mobile=138****5678 "
        "company=9135**********0Y43 status=OK"
    )


def test_redact_masks_numbers_written_against_chinese_text() -> None:
    line = "申请人身份证号11010519491231002x，手机+8613812345678，已受理"
    assert identity.redact(line) == "申请人身份证号1101**********002x，手机+86138****5678，已受理"


def test_redact_keeps_application_numbers_readable() -> None:
    # The application number is the logs' correlation id; the applicant's number is not.
    line = "application YW2026112399946759 applicant 110101199003071233"
    assert identity.redact(line) == "application YW2026112399946759 applicant 1101**********1233"


def test_redact_masks_numbers_that_intake_refused() -> None:
    # Refused input is what ends up in error logs; it must not leak either.
    line = "refused id=110101199003071234 legacy=110101900307123 code=91350100MOOO100Y43"
    redacted = identity.redact(line)
    assert "110101199003071234" not in redacted
    assert "110101900307123" not in redacted
    assert "91350100MOOO100Y43" not in redacted
    assert "1101**********1234" in redacted
    assert "1101*******7123" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "order 2026093012345678901 total 1999",  # 19 digits
        "trace 12345678901234567",  # 17 digits
        "amount 138123456789 fen",  # 12 digits starting like a mobile
        "serial 23812345678",  # 11 digits, not a mobile prefix
        "ts=1790000000000",  # epoch milliseconds
        "event ApplicationSubmitted for APPLICATIONSUBMIT",  # 18-letter words
        "request 8f14e45f-ceea-467f-a0e6-1c9a1d2c1e5b",
    ],
)
def test_redact_leaves_other_numbers_and_words_alone(text: str) -> None:
    assert identity.redact(text) == text
