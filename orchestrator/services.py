"""The service container every flow receives: config, store, outbox and provider clients."""

from __future__ import annotations

from dataclasses import dataclass

from .adapters.delivery import DeliveryClient
from .adapters.legacy import LegacyClient
from .adapters.notifications import NotificationsClient
from .adapters.payment import PaymentClient
from .config import Config
from .outbox import Outbox
from .store import Store


@dataclass
class Services:
    """What a flow needs, built once per process by `build`."""

    config: Config
    store: Store
    outbox: Outbox
    payment: PaymentClient
    legacy: LegacyClient
    delivery: DeliveryClient
    notifications: NotificationsClient

    @classmethod
    def build(cls, config: Config) -> Services:
        """Open the store (creating tables), the outbox and one client per provider."""
        store = Store(config.database_url, prefix=config.table_prefix)
        store.create_all()
        outbox = Outbox(store, max_attempts=config.outbox_max_attempts, backoff_s=config.outbox_backoff_s,
                        max_backoff_s=config.outbox_max_backoff_s, lease_s=max(5.0, config.checkout_lease_s))
        return cls(config=config, store=store, outbox=outbox,
                   payment=PaymentClient(config.payment_url, config.policy),
                   legacy=LegacyClient(config.legacy_url, config.policy),
                   delivery=DeliveryClient(config.delivery_url, config.policy),
                   notifications=NotificationsClient(config.notifications_url, config.policy))

    def breakers(self) -> dict[str, str]:
        """Each provider's breaker state."""
        return {c.provider: c.breaker_state() for c in (self.payment, self.legacy, self.delivery,
                                                         self.notifications)}
