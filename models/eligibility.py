"""Saved results of the eligibility check, shown at /r/{id}.

Why stored: a full result (routes, requirements, notes, materials checklist, key dates)
does not fit a WeChat text reply (about 2,048 bytes), so the chat sends a summary and a
link to this page. The row holds what the page shows and nothing about who asked: no
openid, no name; only the answers, the result and when it was made. The id is the only
key and is unguessable (secrets.token_urlsafe), so the link is the access right.
"""

from tortoise import fields
from tortoise.models import Model


class EligibilityResultPage(Model):
    """A result of the eligibility check shown at /r/{id}: answers and result, no openid."""

    id = fields.CharField(max_length=48, primary_key=True)  # secrets.token_urlsafe(18)
    policy = fields.CharField(max_length=40)
    answers = fields.JSONField()  # the answers as given (contract field names)
    result = fields.JSONField()  # Result.to_dict(): the contract JSON at the time
    view = fields.JSONField()  # the page's sections in Chinese, as rendered at the time
    source = fields.CharField(max_length=8)  # chat | api
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "eligibility_result_page"
