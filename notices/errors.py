"""Validation errors that name the field, for input typed by HR officers.

Why one shape: the pages answer a refused form as `{"errors": [{"field", "message"}]}`
(the same 422 body the eligibility API uses), so every rule here reports the field key the
form used and a message in Chinese that the officer can act on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FieldError:
    """One refused field: `field` is the form key, `message` is shown to the officer."""

    field: str
    message: str


class NoticeValidationError(ValueError):
    """Input refused by a notice rule; carries one `FieldError` per problem."""

    def __init__(self, *errors: FieldError) -> None:
        if not errors:
            raise TypeError("NoticeValidationError needs at least one FieldError")
        self.errors: tuple[FieldError, ...] = errors
        super().__init__("；".join(e.message for e in errors))

    def as_dicts(self) -> list[dict[str, str]]:
        """The `errors` list of a 422 answer."""
        return [asdict(e) for e in self.errors]
