"""StreamingCbc gives wechatpy's cipher's bytes, message after message, on long-lived
contexts (bot.signature); the published WeChat sample is checked in test_webhook."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.crypto.cryptography import WeChatCipher

from bot.signature import StreamingCbc

keys = st.binary(min_size=32, max_size=32)
messages = st.lists(st.integers(min_value=1, max_value=40).flatmap(
    lambda blocks: st.binary(min_size=16 * blocks, max_size=16 * blocks)), min_size=1,
    max_size=8)


@settings(max_examples=300, deadline=None)
@given(keys, messages, st.lists(st.booleans(), min_size=8, max_size=8))
def test_every_message_encrypts_and_decrypts_as_with_a_fresh_context(key, plain, order):
    ours, reference = StreamingCbc(key), WeChatCipher(key)
    for data, decrypt_first in zip(plain, order, strict=False):
        expected = reference.encrypt(data)
        if decrypt_first:  # interleaving must not disturb the running encryptor
            assert ours.decrypt(expected) == data
        assert ours.encrypt(data) == expected
        assert ours.decrypt(expected) == reference.decrypt(expected) == data


@pytest.mark.parametrize("length", [0, 1, 15, 17, 33])
def test_a_length_that_is_not_whole_blocks_is_refused_and_changes_nothing(length):
    key = bytes(range(32))
    ours, reference = StreamingCbc(key), WeChatCipher(key)
    ours.encrypt(b"a" * 32)  # the running context has moved on from the IV
    for method in (ours.encrypt, ours.decrypt):
        with pytest.raises(ValueError):
            method(b"x" * length)
    if length:  # wechatpy's cipher refuses these too (an empty one it returns empty)
        with pytest.raises(ValueError):
            reference.decrypt(b"x" * length)
    data = b"after the error!" * 3
    assert ours.encrypt(data) == reference.encrypt(data)
