"""Notifications provider adapter (contracts/notifications.openapi.yaml)."""

from __future__ import annotations

from typing import Any

from .base import ProviderClient


class NotificationsClient(ProviderClient):
    """Customer e-mails and text messages."""

    provider = "notifications"

    def send_email(self, body: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """sendEmail."""
        return self.request("sendEmail", "POST", "/emails", json_body=body, idempotency_key=idempotency_key)

    def send_sms(self, body: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """sendSms."""
        return self.request("sendSms", "POST", "/sms", json_body=body, idempotency_key=idempotency_key)
