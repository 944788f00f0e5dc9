"""The delivery rule as a table: errcode classes, bounded backoff with jitter, what happens
to a message in doubt per channel, and the configuration check that keeps every resend of
a template message inside WeChat's 10-minute client_msg_id window."""

from __future__ import annotations

import random

import pytest

from config.settings import SettingsError, load_settings
from notices.delivery import DeliveryConfig
from notices.delivery_policy import (
    FAILED,
    HOLD,
    RESEND,
    RETRY,
    SENT,
    UNKNOWN,
    WECHAT_DEDUP_WINDOW_S,
    backoff_s,
    classify,
    dedup_problem,
    in_doubt_for,
    resend_gap_s,
)


@pytest.mark.parametrize("errcode", [-1, 45009, 45011, -500, -502, -599, -1000, -1001])
def test_transient_errcodes_are_retried_until_the_last_attempt(errcode):
    assert classify(errcode, attempts=1, max_attempts=3).status == RETRY
    assert classify(errcode, attempts=3, max_attempts=3).status == FAILED


@pytest.mark.parametrize("errcode", [43004, 43101, 40003, 40037, 47003])
def test_permanent_errcodes_fail_at_once(errcode):
    assert classify(errcode, attempts=1, max_attempts=6).status == FAILED


def test_zero_is_sent():
    assert classify(0, attempts=1, max_attempts=1).status == SENT


def test_backoff_grows_is_capped_and_jittered_within_half_to_full():
    rng = random.Random(7)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16), (9, 300), (30, 300)]:
        delays = [backoff_s(attempt, 2, 300, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), attempt
        assert max(delays) - min(delays) > ceiling / 4  # jitter: not in lockstep


@pytest.mark.parametrize(("channel", "policy", "idempotent", "expected"), [
    ("template", "auto", True, RESEND),    # WeChat drops a repeated client_msg_id
    ("subscribe", "auto", True, HOLD),     # bizsend has no such field
    ("template", "auto", False, HOLD),     # no key sent at all: nothing protects it
    ("subscribe", "resend", True, RESEND),
    ("template", "hold", True, HOLD),
])
def test_in_doubt_per_channel(channel, policy, idempotent, expected):
    assert in_doubt_for(channel, policy, idempotent=idempotent) == expected


def test_an_ambiguous_answer_is_unknown_when_held_and_retried_when_resent():
    assert classify(-1000, attempts=1, max_attempts=6, in_doubt=HOLD).status == UNKNOWN
    assert classify(-1000, attempts=1, max_attempts=6, in_doubt=RESEND).status == RETRY
    assert classify(45011, attempts=1, max_attempts=6, in_doubt=HOLD).status == RETRY


def test_the_defaults_resend_well_inside_the_window():
    gap = resend_gap_s(lease_s=60, backoff_max_s=300, poll_interval_s=1, api_timeout_s=5)
    assert gap == 366 and gap < WECHAT_DEDUP_WINDOW_S
    assert dedup_problem(lease_s=60, backoff_max_s=300, poll_interval_s=1,
                         api_timeout_s=5) is None
    DeliveryConfig()  # the dataclass defaults pass their own check


@pytest.mark.parametrize(("lease", "backoff_max", "bad"), [
    (265, 60, False),  # 2 x 265 + 5 = 535 s: just inside 600 s less the 60 s margin
    (270, 60, True),   # 545 s
    (60, 480, True),   # 5 + 480 + 1 + 60 = 546 s after a timeout
])
def test_a_resend_that_could_come_after_wechat_forgot_the_key_is_refused(lease, backoff_max,
                                                                         bad):
    problem = dedup_problem(lease_s=lease, backoff_max_s=backoff_max, poll_interval_s=1,
                            api_timeout_s=5)
    assert (problem is not None) == bad
    if bad:
        with pytest.raises(ValueError, match="client_msg_id"):
            DeliveryConfig(lease_s=lease, backoff_max_s=backoff_max)
        DeliveryConfig(lease_s=lease, backoff_max_s=backoff_max, in_doubt="hold")  # no resends
        DeliveryConfig(lease_s=lease, backoff_max_s=backoff_max, idempotency_field="")


def test_settings_refuse_such_a_lease_naming_the_variable():
    with pytest.raises(SettingsError) as info:
        load_settings(delivery_lease=400)
    assert "DELIVERY_LEASE" in str(info.value) and "600 s" in str(info.value)
    assert load_settings(delivery_lease=400, delivery_in_doubt="hold").delivery_lease == 400
    with pytest.raises(SettingsError, match="DELIVERY_IN_DOUBT"):
        load_settings(delivery_in_doubt="sometimes")


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="in_doubt"):
        DeliveryConfig(in_doubt="maybe")
