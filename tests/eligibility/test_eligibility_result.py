"""The result: the contract JSON, the trace, and the Chinese text built from the trace."""

from __future__ import annotations

import json

from eligibility_profiles import ordinary

import eligibility

CONTRACT_KEYS = ["policy", "eligible", "blocked_by", "paths", "requirements", "notes", "needs",
                 "trace", "materials"]


def test_to_dict_has_exactly_the_contract_keys():
    for answers in ({}, ordinary(), ordinary(employment="retired")):
        d = eligibility.evaluate(answers).to_dict()
        assert list(d) == CONTRACT_KEYS
        json.dumps(d, ensure_ascii=False)


def test_shapes_of_paths_requirements_notes_blocks():
    d = eligibility.evaluate(ordinary(honors=["state_council_allowance"])).to_dict()
    for path in d["paths"]:
        assert set(path) == {"code", "target_level", "clause", "conditions", "text"}
        assert isinstance(path["conditions"], list)
    assert d["paths"][1] == {
        "code": "breakthrough_senior", "target_level": "senior", "clause": "一(五)1",
        "conditions": ["unit_recommendation"],
        "text": "破格申报正高级：凭所获奖项或荣誉，经单位推荐可直接破格申报正高级，"
                "由评委会评价工作业绩、能力和成果；考评结合系列，国家没有明确规定的可不参加考试，"
                "直接参加评审。",
    }
    for key, req in d["requirements"].items():
        assert set(req) == {"value", "clause"}, key
    for note in d["notes"]:
        assert set(note) == {"code", "clause", "text"} and note["text"]
    blocked = eligibility.evaluate(ordinary(employment="retired")).to_dict()
    assert blocked["blocked_by"] == [
        {"code": "retired", "clause": "一(十)7", "text": "退休人员不得参加职称评审。"}]


def test_trace_lists_every_path_with_its_conditions_and_clauses():
    d = eligibility.evaluate(ordinary()).to_dict()
    blocks = [t for t in d["trace"] if t["kind"] == "block"]
    paths = [t for t in d["trace"] if t["kind"] == "path"]
    assert [b["status"] for b in blocks] == ["failed", "failed", "failed"]
    assert len(paths) == 17
    regular = paths[0]
    assert regular["code"] == "regular_review" and regular["status"] == "open"
    assert [(c["code"], c["clause"], c["status"]) for c in regular["conditions"]] == [
        ("target_above_current", "一(二)1", "held"),
        ("step_by_step", "一(九)2", "held"),
        ("reviewed_level", "一(三)2", "held"),
    ]
    # short-circuit: a closed path shows the conditions checked up to the first that
    # failed; those that read only the answers are checked first
    covid = next(p for p in paths if p["code"] == "covid_early_application")
    assert covid["status"] == "closed"
    assert covid["conditions"] == [{"code": "health_series", "clause": "一(七)3",
                                    "status": "failed"}]


def test_trace_marks_unknown_conditions_and_undecided_paths():
    d = eligibility.evaluate(ordinary(honors=...)).to_dict()
    senior = next(t for t in d["trace"] if t.get("code") == "breakthrough_senior")
    assert senior["status"] == "undecided"
    assert {c["code"]: c["status"] for c in senior["conditions"]} == {
        "senior_honor": "unknown", "target_above_current": "held", "reviewed_level": "held"}
    assert {"code": "senior_honor", "clause": "一(五)1", "status": "unknown"} \
        in senior["conditions"]


def test_trace_of_a_blocked_result_stops_at_the_blocks():
    d = eligibility.evaluate({"employment": "civil_servant"}).to_dict()
    assert [t["kind"] for t in d["trace"]] == ["block", "block", "block"]
    assert d["trace"][0]["status"] == "held"
    assert d["trace"][2]["status"] == "unknown"


def test_eligible_is_false_while_a_block_is_still_open():
    result = eligibility.evaluate(ordinary(employment=...))
    assert result.eligible is False
    assert result.needs == ("employment",)
    assert result.path_codes() == {"regular_review": "deputy_senior"}


def test_text_for_an_open_route():
    text = eligibility.render_text(eligibility.evaluate(ordinary(
        workplace_level="county", years_professional_work=30, years_at_county_or_below=30)))
    lines = text.splitlines()
    assert lines[0] == "《2020 年全区职称改革工作安排意见》"
    assert lines[1] == "结论：可以申报。"
    assert "2. 【基层长期服务破格】申报副高级职称（一(八)2）" in lines
    assert "   依据：申报的副高级职称高于现有职称；工程技术系列副高级职称通过评审取得；" \
           "在旗县满30年或在苏木乡镇满20年。" in lines
    assert "- 论文：不作论文、科研成果要求（一(八)1）" in lines
    assert "1. 专业技术职务任职资格评审表（A4 纸，一式 2 份）" in lines
    assert "- 2020年6月30日：各盟市、各高评委会完成组织申报的截止日（二(八)）" in lines


def test_text_for_a_block():
    text = eligibility.render_text(eligibility.evaluate(ordinary(blacklisted_year=2017)))
    assert text.splitlines()[1:] == [
        "结论：不能申报。",
        "原因：记入职称申报评审失信黑名单（2017年）未满5年，不得申报。（二(一)5）",
    ]


def test_text_for_no_route_gives_the_reasons_from_the_trace():
    text = eligibility.render_text(eligibility.evaluate(ordinary(current_level="senior")))
    assert "结论：按您的回答，没有找到可以申报的途径。" in text
    assert "- 申报的级别（无更高级别）不高于现有职称（正高级职称）（一(二)1）" in text
    assert "材料清单" not in text


def test_text_for_partial_answers_asks_the_next_questions():
    text = eligibility.render_text(eligibility.evaluate({}))
    assert "结论：还需要您再回答几个问题。" in text
    assert "1. 您现在的身份是？" in text
    assert "2. 您是否被列入过职称申报评审失信黑名单？如有，是哪一年？" in text


def test_text_when_open_but_more_questions_matter():
    text = eligibility.render_text(eligibility.evaluate(ordinary(honors=...)))
    assert "结论：可以申报。" in text
    assert "还有几个问题会影响结论，建议继续回答：\n1. 您获得过下面哪些奖项或荣誉？" in text


def test_skills_text_names_the_engineer_title():
    text = eligibility.render_text(eligibility.evaluate(ordinary(
        current_level="none", education="secondary_vocational", full_time_graduate=False,
        skill_qualification="technician", years_since_skill_qualification=3)))
    assert "可申报工程技术系列相应专业工程师（中级职称）。" in text
