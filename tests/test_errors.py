"""Failure classification and Retry-After, for our errors and HTTP clients' alike."""

from __future__ import annotations

import httpx
import openai
import pytest

from patterns.errors import FailureKind, ModelTimeout, PermanentModelError, RateLimited, classify, retry_after
from patterns.resilience.retry import Backoff


def _openai_429(headers: dict[str, str]) -> openai.RateLimitError:
    response = httpx.Response(429, headers=headers, request=httpx.Request("POST", "http://127.0.0.1/v1"))
    return openai.RateLimitError("rate limited", response=response, body=None)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ModelTimeout("t"), FailureKind.TRANSIENT),
        (PermanentModelError("401"), FailureKind.PERMANENT),
        (ConnectionError(), FailureKind.TRANSIENT),
        (ValueError("bad"), FailureKind.PERMANENT),
        (_openai_429({}), FailureKind.TRANSIENT),
    ],
)
def test_classification(error: BaseException, kind: FailureKind) -> None:
    assert classify(error) is kind


def test_retry_after_from_our_error_and_from_http_headers() -> None:
    assert retry_after(RateLimited("429", retry_after=0.7)) == 0.7
    assert retry_after(_openai_429({"retry-after": "2"})) == 2.0
    assert retry_after(_openai_429({"retry-after-ms": "250", "retry-after": "1"})) == 0.25
    assert retry_after(_openai_429({})) is None
    assert retry_after(ValueError()) is None


def test_retry_policy_honours_retry_after_from_any_client() -> None:
    policy = Backoff(base_delay=0.01, max_delay=5.0, jitter=0.0)
    assert policy.delay(1, error=_openai_429({"retry-after": "3"})) >= 3.0
    assert not policy.should_retry(_openai_429({"retry-after": "60"}))  # longer than we will wait
