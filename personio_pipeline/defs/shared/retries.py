"""Step retries for transient failures only.

Dagster's `RetryPolicy` retries a step on any exception: a 401, a blocking check or the
safeguard would be tried again, and the alert would come minutes later with the same cause. So
the steps that touch Apideck or the Teammeter database are wrapped by `retry_transient_errors`,
which asks Dagster for a retry (`dg.RetryRequested`) only when `personio_pipeline.runtime.transient`
classifies the failure as transient, with the delay of an exponential `dg.RetryPolicy` with
jitter; every other failure passes through unchanged and fails the step at once. The number of
retries and the base delay are read when a step fails (`settings.step_retries`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import dagster as dg

from personio_pipeline.common import settings
from personio_pipeline.runtime.transient import is_transient


def transient_retry_policy() -> dg.RetryPolicy:
    retries, delay = settings.step_retries()
    return dg.RetryPolicy(max_retries=retries, delay=delay, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def _context(args: tuple, kwargs: dict) -> dg.AssetExecutionContext:
    return kwargs["context"] if "context" in kwargs else args[0]


def _retry_or_raise(context: dg.AssetExecutionContext, error: Exception) -> None:
    if isinstance(error, dg.Failure) and error.allow_retries is False:
        return
    if not is_transient(error):
        return
    policy = transient_retry_policy()
    attempt = context.retry_number + 1
    if policy.max_retries == 0:
        return
    if attempt <= policy.max_retries:
        context.log.warning(
            f"company '{context.partition_key}': transient failure ({type(error).__name__}); "
            f"retry {attempt} of {policy.max_retries} follows"
        )
    raise dg.RetryRequested(max_retries=policy.max_retries, seconds_to_wait=policy.calculate_delay(attempt)) from error


def retry_transient_errors(compute: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for an asset's compute function (below `@dg.asset`; its first argument is the
    context): transient failures request a retry, all others fail the step as they are."""
    if inspect.isgeneratorfunction(compute):

        @functools.wraps(compute)
        def generator(*args, **kwargs):
            try:
                yield from compute(*args, **kwargs)
            except Exception as error:
                _retry_or_raise(_context(args, kwargs), error)
                raise

        return generator

    @functools.wraps(compute)
    def function(*args, **kwargs):
        try:
            return compute(*args, **kwargs)
        except Exception as error:
            _retry_or_raise(_context(args, kwargs), error)
            raise

    return function
