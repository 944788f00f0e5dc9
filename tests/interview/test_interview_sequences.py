"""The interview asks exactly what the engine's `needs` say, for scripted applicants
(tests/cases/interview/sequences.toml), through the webhook in plaintext and safe mode."""

from __future__ import annotations

import pytest

import eligibility
from models import EligibilityResultPage
from tests.interview.chat import Chat, asked, catalogue, load_cases, page_id, typed
from tests.support import factories as f

CASES = load_cases()


def test_the_case_file_is_well_formed():
    fields = set(catalogue())
    assert len(CASES) >= 8
    for case in CASES:
        assert set(case["answers"]) <= fields, case["id"]
        assert set(case["asks"]) <= fields, case["id"]
        assert len(set(case["asks"])) == len(case["asks"]), f"{case['id']}: asked twice"
        assert set(case["expect"]) <= {"eligible", "blocked_by", "paths"}, case["id"]


@pytest.mark.parametrize("mode", ["plain", "safe"])
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
async def test_interview_asks_exactly_the_needs(sim_for, case, mode):
    questions = catalogue()
    chat = Chat(sim_for(mode=mode), f"o_seq_{case['id']}_{mode}_{f.next_msg_id()}")
    reply = await chat.say("资格自测")
    so_far: dict = {}
    asked_fields: list[str] = []
    while (question := asked(reply)) is not None:
        needs = eligibility.evaluate(so_far).needs
        assert needs, f"asked {question.field} though nothing is left to ask"
        assert question.field == needs[0], f"asked {question.field}, needs say {needs}"
        assert question.number == len(asked_fields) + 1
        asked_fields.append(question.field)
        assert len(asked_fields) <= len(questions), "the interview does not end"
        value = case["answers"][question.field]
        so_far[question.field] = value
        reply = await chat.say(typed(questions[question.field], value))

    assert asked_fields == case["asks"]
    assert eligibility.evaluate(so_far).needs == ()

    # The end: a summary in one message, with the link to the stored page.
    assert reply.startswith("资格自测结果")
    row = await EligibilityResultPage.get(id=page_id(reply))
    assert row.source == "chat"
    assert row.answers == so_far
    expect = case["expect"]
    result = row.result
    if "eligible" in expect:
        assert result["eligible"] is expect["eligible"]
    if "blocked_by" in expect:
        assert [b["code"] for b in result["blocked_by"]] == expect["blocked_by"]
    if "paths" in expect:
        assert {p["code"]: p["target_level"] for p in result["paths"]} == expect["paths"]
    for path in result["paths"]:  # every open route named with its clause in the summary
        title = path["text"].split("：", 1)[0]
        assert f"【{title}】" in reply and path["clause"] in reply
    for block in result["blocked_by"]:
        assert block["clause"] in reply

    # The conversation is over: the state is cleared.
    after = await chat.say("1")
    assert asked(after) is None
