"""Professional-title series (职称系列) codes, as fixed by `shared/spec/eligibility.md`.

Why a copy here: notices target series with the same codes the eligibility check uses, so a
subscriber's series from the interview matches a notice's scope. When `eligibility` exposes
its own table, this module should import it instead.
"""

from __future__ import annotations

SERIES: dict[str, str] = {
    "engineering": "工程技术",
    "health": "卫生",
    "economics": "经济",
    "accounting": "会计",
    "audit": "审计",
    "statistics": "统计",
    "computer": "计算机技术与软件",
    "translation": "翻译",
    "higher_education": "高等学校教师",
    "party_school": "党校教师",
    "social_science": "哲学社会科学研究",
    "agri_forestry_research": "农牧林业科研",
    "natural_science_research": "自然科学研究",
    "journalism": "新闻",
    "publishing": "出版",
    "archives": "档案",
    "library": "图书资料",
    "cultural_heritage": "文物博物",
    "primary_secondary_teacher": "中小学教师",
    "vocational_college_teacher": "高等职业院校教师",
    "secondary_vocational_teacher": "中等职业学校教师",
    "technical_school_teacher": "技工院校教师",
    "agriculture": "农牧业技术",
    "forestry": "林业",
    "water": "水利",
    "ulanmuqi": "乌兰牧骑",
    "other": "其他",
}
