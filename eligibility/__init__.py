"""Eligibility check for professional-title (职称) applications: the pure domain package.

The rules are data (config/policy/<id>.toml, one file per policy year, every rule next to
its clause); this package compiles them once per policy and evaluates answers in
three-valued logic, so partial answers give a partial result plus the questions still
worth asking. No web, chat or database code lives here: the HTTP API, the chat interview
and any front end call these functions and share one vocabulary
(../shared/spec/eligibility.md).

    evaluate(answers, policy="nmg-2020") -> Result     # raises AnswersError, UnknownPolicyError
    validate_answers(answers, policy="nmg-2020") -> (clean_answers, errors)
    questions(policy="nmg-2020") -> list of question dicts, in interview order
    render_text(result) -> str                          # plain Simplified Chinese
    available_policies() -> list of policy ids
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .engine import run
from .errors import AnswersError, PolicyError, UnknownPolicyError
from .explanation import fill, render_text
from .registry import DEFAULT_POLICY, default_registry, refresh_policies
from .result import Result

__all__ = [
    "DEFAULT_POLICY",
    "AnswersError",
    "PolicyError",
    "Result",
    "UnknownPolicyError",
    "available_policies",
    "evaluate",
    "questions",
    "refresh_policies",
    "render_text",
    "validate_answers",
]


def evaluate(answers: Mapping[str, Any], policy: str = DEFAULT_POLICY) -> Result:
    """Evaluate answers under a policy.

    Validates first, because a wrong type silently read as "unknown" would give a wrong
    answer to a real applicant: invalid answers raise AnswersError (its `.errors` is the
    contract's 422 list); an unknown policy id raises UnknownPolicyError.
    """
    pol = default_registry().get(policy)
    clean, errors = pol.schema.validate(answers)
    if errors:
        raise AnswersError(errors)
    return run(pol, clean)


def validate_answers(
    answers: Any, policy: str = DEFAULT_POLICY
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Check answers against the contract without evaluating.

    Returns (clean_answers, errors); errors is a list of {"field", "message"} (Chinese
    message naming the problem): unknown field, wrong type, value outside the enum,
    negative or absurd count (> 60 years). Lets the HTTP layer answer 422 before storing.
    """
    return default_registry().get(policy).schema.validate(answers)


def questions(policy: str = DEFAULT_POLICY) -> list[dict[str, Any]]:
    """The question catalogue: field, type, Chinese question and help, choices with labels.

    One source for the chat interview and GET /api/v1/eligibility/questions, so both ask
    the same thing the same way. Returned in interview order; the caller may mutate it.
    """
    pol = default_registry().get(policy)
    return pol.schema.questions(lambda text: fill(pol, text, {}))


def available_policies() -> list[str]:
    """Ids of the policy files found (config/policy/ and $ELIGIBILITY_POLICY_DIRS)."""
    return default_registry().ids()
