"""Import rows, pure: control characters, quoting cells in messages without ID numbers,
and the row and column named when the CSV reader refuses a record."""

from __future__ import annotations

import csv

import pytest

from certificates.idcard import make_test_id_number, mask_id_number
from certificates.import_rows import FileProblem, quote_cell, read_rows
from notices.text import has_control_chars

HEADER = "证书编号,姓名,身份证号码,系列,专业,资格名称,级别,取得方式,核准文号,核准日期,发证日期\n"
LIMIT = csv.field_size_limit()


def test_control_characters():
    assert has_control_chars("电气\u0000") and has_control_chars("a\u001fb")
    assert has_control_chars("\x7f") and has_control_chars("\ud800")
    assert has_control_chars("a\nb") and not has_control_chars("a\nb\tc\r\n", multiline=True)
    assert has_control_chars("a\u0000b", multiline=True)
    assert not has_control_chars("内人社职字〔2021〕45号　张三")


def test_quote_cell_masks_id_numbers_and_cuts_long_values():
    number = make_test_id_number("quote")
    assert quote_cell(number) == mask_id_number(number)
    assert number not in quote_cell(f" {number[:9]} {number[9:]} ")
    assert number[:15] not in quote_cell(number[:15])  # a 15-digit (old) number
    assert quote_cell("工程技术") == "工程技术" and quote_cell("C2021") == "C2021"
    assert len(quote_cell("x" * 1000)) == 33


def _rows(text: str) -> list:
    return list(read_rows(text.encode("utf-8"), "x.csv"))


def test_overlong_cell_names_row_and_column():
    good = "N1,张三,x,工程技术,电气,高工,副高级,评审,文,2021-01-01,2021-01-02\n"
    quoted = 'N2,"张""三\n明",x,工程技术,电气,高工,副高级,评审,文,2021-01-01,2021-01-02\n'
    bad = "N3,王芳,x,工程技术,电气,高工,副高级,评审," + "文" * (LIMIT + 1) + ",2021,2021\n"
    assert len(_rows(HEADER + good + quoted)) == 2
    with pytest.raises(FileProblem) as caught:
        _rows(HEADER + good + "\n" + quoted + bad)
    # spreadsheet rows count records, not lines: the blank line is row 3, the quoted
    # record (two lines) row 4
    assert (caught.value.row, caught.value.field) == (5, "approval_document")
    assert "第5行" in str(caught.value) and "核准文号" in str(caught.value)


def test_unpaired_quote_names_the_cell_where_it_starts():
    row = "N{},张三,x,工程技术,{},高工,副高级,评审,文,2021-01-01,2021-01-02\n"
    text = HEADER + row.format(1, '"电气') + "".join(
        row.format(i, "电" * 1000) for i in range(2, 200))
    with pytest.raises(FileProblem) as caught:
        _rows(text)
    assert (caught.value.row, caught.value.field) == (2, "specialty")
    assert "引号" in str(caught.value)


def test_overlong_cell_in_unknown_column():
    text = HEADER.replace("\n", ",备注\n")
    text += "N1,张三,x,工程技术,电气,高工,副高级,评审,文,2021-01-01,2021-01-02," + "y" * (LIMIT + 5)
    with pytest.raises(FileProblem) as caught:
        _rows(text)
    assert (caught.value.row, caught.value.field) == (2, "")
    assert "第2行" in str(caught.value)
