"""The one JSON reader for request bodies (handlers.json_body): what it takes and what
it refuses. The HTTP side, one endpoint of each kind, is in
tests/certificates_service/test_json_bodies_http.py."""

from __future__ import annotations

import pytest

from handlers.json_body import JsonBodyError, loads


@pytest.mark.parametrize("body, expected", [
    (b'{"a": [1, 2.5, "\\u5f20\\u4e09", null, true]}', {"a": [1, 2.5, "张三", None, True]}),
    ('{"名字": "张三"}', {"名字": "张三"}),
    (b'{"n": 123456789012345678901234567890}', {"n": 1.2345678901234568e29}),  # a float
    (b'"\\ud83d\\ude00"', "\U0001F600"),  # a surrogate *pair* is one character: fine
    (b"[" * 3 + b"]" * 3, [[[]]]),
])
def test_json_it_takes(body, expected):
    assert loads(body) == expected


@pytest.mark.parametrize("body", [
    b'{"name": "\\ud800"}',  # half a surrogate pair: no UTF-8 encoder takes it
    b'{"\\udc00": 1}',
    b'{"x": NaN}', b'{"x": Infinity}', b'[-Infinity]',  # not JSON
    b"[" * 1025 + b"]" * 1025, b"[" * 100_000,  # deeper than orjson goes (1,024 levels)
    b'{"a": 1,}', b"", b"\xff\xfe{}",
])
def test_json_it_refuses(body):
    with pytest.raises(JsonBodyError) as info:
        loads(body)
    assert info.value.message == "请求体不是合法的 JSON"
