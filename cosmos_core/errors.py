"""CosmosError, the one error the API raises, and how the core's own errors become it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cosmos_core.config import ConfigError
from cosmos_core.config_edit import EditError
from cosmos_core.ssh.hostkeys import KnownHostsError
from cosmos_core.ssh.onboarding import OnboardingError
from cosmos_core.standing import QueueError
from cosmos_core.starting import StartError
from cosmos_core.store.queries import InvalidInput, NotFound
from cosmos_core.upstream.params import ParamError


class CosmosError(Exception):
    """An operation failed; the message is one line saying what and why."""


@contextmanager
def as_cosmos_error() -> Iterator[None]:
    """Turns the core's lookup, validation and config errors into CosmosError."""
    try:
        yield
    except (NotFound, InvalidInput, ConfigError, ParamError, StartError, OnboardingError, KnownHostsError, QueueError,
            EditError) as exc:
        raise CosmosError(str(exc)) from exc
