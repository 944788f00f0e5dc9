"""The talent record's answers for the 资格自测 interview (handlers.interview).

A user bound to a talent record (我的证书) does not answer `blacklisted_year` themselves:
the credit blacklist (二(一)5) gives it (certificates.blacklist), on every turn, so an
entry made or run out during an interview counts at once. Unbound users are asked as
before. The interview gets the sender from `ctx.data["sender"]`, put there by the
`remember_sender` middleware (the interview's helpers only see the context).

Reading: an entry still in force but made after the last year the policy's answer accepts
(its policy year, e.g. 2020 for nmg-2020) is given as that year, so the engine still
blocks (policy year - year = 0 < 5) instead of refusing the answer.
"""

from __future__ import annotations

from typing import Any

import eligibility
from bot.dispatcher import Context, Handler
from bot.messages import Incoming
from certificates.blacklist import bound_standing
from handlers.certificates_keys import CERTS

SENDER = "sender"
FIELD = "blacklisted_year"


async def remember_sender(handler: Handler, msg: Incoming, ctx: Context) -> Any:
    ctx.data.setdefault(SENDER, msg.openid)
    return await handler(msg, ctx)


def _latest_year(policy: str) -> int | None:
    for q in eligibility.questions(policy):
        if q["field"] == FIELD:
            return q.get("max")
    return None


async def talent_answers(ctx: Context, policy: str) -> dict[str, Any]:
    """{field: value} the bound talent record answers; {} for an unbound user."""
    openid = ctx.data.get(SENDER)
    if not openid:
        return {}
    try:
        service = ctx[CERTS]
    except KeyError:  # an app without the certificates feature
        return {}
    standing = await bound_standing(openid, today=service.today())
    if standing is None:
        return {}
    year, latest = standing.blacklisted_year, _latest_year(policy)
    if year is not None and latest is not None:
        year = min(year, latest)
    return {FIELD: year}
