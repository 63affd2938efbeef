"""Behaviours and provider states: the small functions that give a simulator a provider's real rules.

A provider module builds one `Behaviours` registry:

    payment = Behaviours("payment")

    @payment.operation("capturePayment")
    def capture(req: Request, sim: SimContext) -> Reply: ...

    @payment.state("payment-authorized", "payment {payment_id} is authorized", payment_id="pay_1")
    def payment_authorized(sim: SimContext, params: dict) -> dict: ...

Registries are checked when a simulator starts (`check(contract)`): an operationId the contract does
not have is an error naming the nearest ones, like a provider-state name that is not registered.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, ProblemError, unknown_name

if TYPE_CHECKING:
    from faker import Faker

    from .clock import Clock
    from .store import StateStore


@dataclass
class Request:
    """A validated request, as a behaviour sees it (headers lower-cased)."""

    operation: str
    method: str
    path: str
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    correlation_id: str = ""
    idempotency_key: str | None = None


@dataclass
class Reply:
    """What a behaviour answers; the engine validates it against the contract before sending."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class SimContext:
    """What a behaviour may use: the store, the clock, seeded randomness, webhooks, contract examples."""

    def __init__(
        self,
        name: str,
        store: StateStore,
        clock: Clock,
        *,
        seed: int = 0,
        faker: Faker | None = None,
        webhooks: Any = None,
        examples: Callable[[str, str], Any] | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.name, self.store, self.clock = name, store, clock
        self.seed = seed
        self.rng = random.Random(seed)
        self.faker = faker
        self.webhooks = webhooks
        self._examples = examples
        self.config = config or {}

    @staticmethod
    def problem(status: int, title: str, detail: str | None = None, **extensions: Any) -> ProblemError:
        """Build (to raise) a problem+json error: `raise sim.problem(409, "Conflict", "...", state=...)`."""
        return ProblemError(status, title, detail, **extensions)

    def example(self, operation_id: str, status: str = "200") -> Any:
        """The contract's example (or a synthesized body) for an operation's response."""
        if self._examples is None:
            raise ConfigError("this simulator has no contract examples attached")
        return self._examples(operation_id, status)

    def new_id(self, prefix: str) -> str:
        """A short id such as 'pay_3f9a1c2b7d01': unique across workers (a shared counter), seeded, random-looking."""
        n = self.store.incr("_ids", prefix)
        # multiplying by an odd constant is a bijection modulo 2**48: distinct counters give distinct ids
        return f"{prefix}_{((n + self.seed * 7919) * 0x9E3779B97F4B) % (1 << 48):012x}"


Handler = Callable[[Request, SimContext], "Reply | dict[str, Any] | tuple[int, Any]"]
StateHandler = Callable[[SimContext, dict[str, Any]], Any]
Hook = Callable[[SimContext], None]


@dataclass
class ProviderState:
    """A named fixture: `name` for the control API, `description` as Pact and scenarios say it."""

    name: str
    description: str
    handler: StateHandler
    defaults: dict[str, Any] = field(default_factory=dict)

    def pattern(self) -> re.Pattern[str]:
        """A regex for the description with {param} placeholders, to parse Pact state strings."""
        parts = re.split(r"(\{\w+\})", self.description)
        rx = "".join(
            f"(?P<{p[1:-1]}>.+?)" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts
        )
        return re.compile(f"^{rx}$", re.IGNORECASE)


class Behaviours:
    """The behaviours, provider states and clock hooks of one provider."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.operations: dict[str, Handler] = {}
        self.states: dict[str, ProviderState] = {}
        self.tick_hooks: list[Hook] = []
        self.reset_hooks: list[Hook] = []

    def operation(self, operation_id: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            if operation_id in self.operations:
                raise ConfigError(f"behaviour for '{operation_id}' registered twice", source=self.name)
            self.operations[operation_id] = fn
            return fn

        return register

    def state(self, name: str, description: str, **defaults: Any) -> Callable[[StateHandler], StateHandler]:
        def register(fn: StateHandler) -> StateHandler:
            if name in self.states:
                raise ConfigError(f"provider state '{name}' registered twice", source=self.name)
            self.states[name] = ProviderState(name, description, fn, defaults)
            return fn

        return register

    def on_tick(self, fn: Hook) -> Hook:
        """Called often (and after every clock change): move things along by the simulator's clock."""
        self.tick_hooks.append(fn)
        return fn

    def on_reset(self, fn: Hook) -> Hook:
        """Called at start and after every reset: seed initial data (a catalog, test customers)."""
        self.reset_hooks.append(fn)
        return fn

    def check(self, operation_ids: set[str]) -> None:
        """Fail at start when a behaviour names an operationId that the contract does not have."""
        for op in self.operations:
            if op not in operation_ids:
                raise ConfigError(unknown_name("operationId", op, operation_ids), source=f"behaviours of {self.name}")

    def find_state(self, name_or_description: str) -> tuple[ProviderState, dict[str, Any]]:
        """A state by name, or by a description such as 'customer 42 has approved KYC' (params parsed)."""
        if name_or_description in self.states:
            state = self.states[name_or_description]
            return state, dict(state.defaults)
        for state in self.states.values():
            match = state.pattern().match(name_or_description.strip())
            if match:
                return state, {**state.defaults, **match.groupdict()}
        raise ProblemError(
            400,
            "Unknown provider state",
            unknown_name("provider state", name_or_description, self.states),
            known=sorted(self.states),
        )
