"""The credit blacklist as the eligibility check sees it (二(一)5: a title obtained by
fraud is revoked and the person may not apply for five years).

Why a fact and not a question: once a WeChat user has bound a talent record (我的证书),
the blacklist kept by the HR departments knows the answer better than the user does, so
the 资格自测 interview takes `blacklisted_year` from here and does not ask it.

Which entries count: only entries still in force on `today` (`until` >= today, i.e. less
than five years since entry). The engine applies its own rule to the year (policy year -
year < 5); an entry that has run out is no bar any more, whatever the policy year of the
rule set, so it is reported as "not blacklisted" (None) rather than by its year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from models import BlacklistEntry, WechatUser

__all__ = ["BoundStanding", "bound_standing"]


@dataclass(frozen=True)
class BoundStanding:
    """What the talent record says about a bound user."""

    person_id: int
    blacklisted_year: int | None  # year of entry of the blacklist entry in force, if any
    blacklisted_until: date | None = None


async def bound_standing(openid: str, *, today: date) -> BoundStanding | None:
    """The standing of the talent record `openid` is bound to, or None if not bound."""
    talent = await WechatUser.filter(openid=openid).values_list("talent_id", flat=True)
    person_id = talent[0] if talent else None
    if person_id is None:
        return None
    entry = await (BlacklistEntry.filter(person_id=person_id, until__gte=today)
                   .order_by("-entered_on").first())
    if entry is None:
        return BoundStanding(person_id, None)
    return BoundStanding(person_id, entry.entered_on.year, entry.until)
