"""The ``line`` fixture: the telephony contract suite runs once per backend.

``line(model=CallModel(...), agents=N)`` returns a :class:`tests.telephony_lines.Line` whose
provider behaves that way: the simulated call centre in-process, the Evo Voice client against
its sandbox, the Twilio backend against its sandbox (see ``tests.telephony_lines``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from dialer.domain.clock import VirtualClock
from dialer.sim.callcentre import CallModel
from tests.telephony_lines import BUILDERS, Line

BACKENDS = ["simulated", "evovoice", "twilio"]


@pytest.fixture(params=BACKENDS)
def line(request: pytest.FixtureRequest, clock: VirtualClock) -> Iterator[Callable[..., Line]]:
    builder = BUILDERS[request.param]
    with ExitStack() as stack:

        def make(*, model: CallModel | None = None, agents: int = 2) -> Line:
            return stack.enter_context(builder(model=model or CallModel(), agents=agents, clock=clock))

        yield make
