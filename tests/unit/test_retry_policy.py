"""Backoff with full jitter: within [0, cap], the cap reached and never passed."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.retry import RetryPolicy

policies = st.builds(
    RetryPolicy,
    base_seconds=st.floats(0.01, 60),
    cap_seconds=st.floats(60, 3600),
    factor=st.floats(1, 4),
)


@settings(max_examples=300)
@given(policy=policies, attempt=st.integers(1, 10_000), rnd=st.floats(0, 1))
def test_every_delay_is_within_zero_and_the_cap(policy: RetryPolicy, attempt: int, rnd: float):
    delay = policy.delay(attempt, rnd)
    assert 0 <= delay <= policy.cap_seconds
    assert delay <= policy.ceiling(attempt)


@settings(max_examples=300)
@given(policy=policies.filter(lambda p: p.factor >= 1.1), rnd=st.floats(0, 1))
def test_the_cap_is_reached_and_never_passed(policy: RetryPolicy, rnd: float):
    ceilings = [policy.ceiling(n) for n in range(1, 200)]
    assert ceilings[-1] == policy.cap_seconds
    assert max(ceilings) == policy.cap_seconds
    assert all(a <= b for a, b in itertools.pairwise(ceilings))
    assert policy.delay(500, rnd) == pytest.approx(policy.cap_seconds * rnd)


@settings(max_examples=200)
@given(policy=policies, attempt=st.integers(1, 30))
def test_ceiling_doubles_until_the_cap(policy: RetryPolicy, attempt: int):
    expected = min(policy.cap_seconds, policy.base_seconds * policy.factor ** (attempt - 1))
    assert policy.ceiling(attempt) == pytest.approx(expected)


def test_invalid_policies_are_refused():
    with pytest.raises(InvalidInput):
        RetryPolicy(base_seconds=0)
    with pytest.raises(InvalidInput):
        RetryPolicy(base_seconds=10, cap_seconds=5)
    with pytest.raises(InvalidInput):
        RetryPolicy().delay(0, 0.5)
