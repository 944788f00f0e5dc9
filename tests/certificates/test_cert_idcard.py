"""ID number validation (GB 11643-1999), normalisation, masking and the test generator."""

from __future__ import annotations

from datetime import date

import pytest

from certificates.idcard import (
    InvalidIdNumber,
    check_character,
    make_test_id_number,
    mask_id_number,
    mask_name,
    validate_id_number,
)

TODAY = date(2025, 1, 1)
# The worked example of GB 11643-1999 (check character X).
STANDARD_EXAMPLE = "11010519491231002X"


def test_standard_example_is_valid():
    assert validate_id_number(STANDARD_EXAMPLE, today=TODAY) == STANDARD_EXAMPLE


def test_check_character_of_known_numbers():
    assert check_character(STANDARD_EXAMPLE[:17]) == "X"
    # Weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2; all zeros give sum 0 -> "1".
    assert check_character("0" * 17) == "1"


def test_lower_case_x_is_normalised_to_upper():
    assert validate_id_number(STANDARD_EXAMPLE.lower(), today=TODAY) == STANDARD_EXAMPLE


def test_full_width_and_spaces_from_chat_input_are_normalised():
    typed = " １１０１０５ １９４９１２３１ ００２ｘ "
    assert validate_id_number(typed, today=TODAY) == STANDARD_EXAMPLE


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("11010519491231002", "length", "18位"),
        ("11010519491231002X1", "length", "19位"),
        ("", "length", "0位"),
        ("1101051949123100AX", "characters", "前17位"),
        ("11010519491231002Y", "characters", "最后一位"),
        ("99010519491231002X", "region", "地址码"),
        ("00010519491231002X", "region", "地址码"),
        ("110105194902300021", "birth_date", "出生日期"),  # 30 February
        ("110105189912310021", "birth_date", "出生日期"),  # before 1900
        ("110105203001010021", "birth_date", "出生日期"),  # in the future
        ("110105194912310021", "check_digit", "校验位"),
    ],
)
def test_invalid_numbers_name_what_is_wrong(text, code, fragment):
    with pytest.raises(InvalidIdNumber) as info:
        validate_id_number(text, today=TODAY)
    assert info.value.code == code
    assert fragment in str(info.value)


def test_every_single_digit_typo_is_caught():
    number = make_test_id_number(1)
    for i in range(17):
        for d in "0123456789":
            if d == number[i]:
                continue
            typo = number[:i] + d + number[i + 1 :]
            with pytest.raises(InvalidIdNumber):
                validate_id_number(typo, today=TODAY)


def test_adjacent_transpositions_are_caught():
    number = make_test_id_number(2)
    for i in range(16):
        if number[i] == number[i + 1]:
            continue
        swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
        with pytest.raises(InvalidIdNumber):
            validate_id_number(swapped, today=TODAY)


def test_residence_permit_and_foreigner_card_prefixes_are_accepted():
    for prefix in ("810000", "830000", "915000"):
        body = f"{prefix}19800101123"
        assert validate_id_number(body + check_character(body), today=TODAY)


def test_generator_is_deterministic_and_valid():
    assert make_test_id_number("a") == make_test_id_number("a")
    assert make_test_id_number("a") != make_test_id_number("b")
    for seed in range(200):
        assert validate_id_number(make_test_id_number(seed), today=TODAY)


def test_generator_options():
    number = make_test_id_number(7, birth_date=date(1990, 2, 28), female=True)
    assert number[6:14] == "19900228"
    assert int(number[16]) % 2 == 0
    assert int(make_test_id_number(7, female=False)[16]) % 2 == 1


def test_mask_id_number_keeps_first_and_last_only():
    assert mask_id_number(STANDARD_EXAMPLE) == "1" + "*" * 16 + "X"
    assert mask_id_number(STANDARD_EXAMPLE.lower()) == "1" + "*" * 16 + "X"
    assert mask_id_number("12") == "**"
    assert mask_id_number("") == ""


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三明", "张*明"),
        ("张三", "张*"),
        ("张", "*"),
        ("欧阳娜娜", "欧**娜"),
        (" 张 三 明 ", "张*明"),
        ("阿依古丽·买买提", "阿******提"),
        ("", ""),
    ],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked
