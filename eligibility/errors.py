"""Errors of the eligibility package.

Three kinds, because callers react differently: a bad policy file is a deployment bug
(fail at load, loudly, with the file and rule named); an unknown policy id and invalid
answers are the caller's input (the HTTP layer turns them into 404/422).
"""

from __future__ import annotations


class PolicyError(Exception):
    """A policy data file is malformed: the message names the file and the rule."""


class UnknownPolicyError(LookupError):
    """No policy file with this id was found in the policy directories."""

    def __init__(self, policy_id: str, available: list[str]):
        self.policy_id = policy_id
        self.available = available
        super().__init__(
            f"unknown policy {policy_id!r}; available: {', '.join(available) or 'none'}"
        )


class AnswersError(ValueError):
    """Answers failed validation; `errors` is the contract's 422 list."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
