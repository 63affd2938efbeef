"""Customer onboarding: new customers, customers migrated from the previous platform, and KYC."""

from __future__ import annotations

import re
import time
from typing import Any

from .. import logs
from ..errors import ProblemError, ProviderUnavailable
from ..services import Services

log = logs.get("onboarding")
STATUS_TO_LEGACY = {"active": "A", "suspended": "S", "closed": "C"}
KYC_MESSAGES = {
    "not_submitted": "KYC documents have not been submitted yet.",
    "pending_review": "KYC documents are waiting for manual approval by the back office.",
    "approved": "KYC approved: hire purchase is available.",
    "rejected": "KYC rejected: hire purchase is not available.",
}


def to_legacy_record(body: dict[str, Any]) -> dict[str, Any]:
    """Map a storefront customer to the previous platform's record format (or pass one through)."""
    if "FULL_NAME" in body:
        return {k: body[k] for k in ("legacy_id", "FULL_NAME", "EMAIL_ADDR", "TEL", "DOB", "CUST_STATUS")
                if k in body}
    try:
        year, month, day = body["date_of_birth"].split("-")
        surname = re.sub(r"[^A-Z' -]", "", body["last_name"].upper()) or "X"
        given = re.sub(r"[^A-Za-z' -]", "", body["first_name"]) or "X"
        return {"legacy_id": body["legacy_id"], "FULL_NAME": f"{surname[:50]}, {given[:1].upper()}{given[1:50]}",
                "EMAIL_ADDR": body["email"], "TEL": national_phone(body["phone"]), "DOB": f"{day}/{month}/{year}",
                "CUST_STATUS": STATUS_TO_LEGACY.get(body.get("status", "active"), "A")}
    except (KeyError, ValueError) as exc:
        raise ProblemError(422, "Customer cannot be mapped to the legacy format", f"missing or bad field: {exc}",
                           type_="/problems/validation") from exc


def national_phone(phone: str) -> str:
    """+447700900123 → '07700 900123' (the previous platform's national format)."""
    digits = re.sub(r"\D", "", phone)
    if phone.startswith("+44"):
        digits = digits[2:]
    elif phone.startswith("+"):
        digits = digits[-10:]
    national = "0" + digits.lstrip("0")
    return f"{national[:5]} {national[5:]}"


def _save(svc: Services, customer: dict[str, Any], origin: str) -> None:
    """Cache the backend's customer locally."""
    now = time.time()
    svc.store.upsert("customers", {
        "id": customer["id"], "legacy_id": customer.get("legacy_id"), "email": customer.get("email"),
        "origin": origin, "kyc_status": customer.get("kyc_status", "not_submitted"), "data": customer,
        "created_at": now, "updated_at": now})


def view(customer: dict[str, Any]) -> dict[str, Any]:
    """The storefront Customer."""
    fields = ("id", "email", "first_name", "last_name", "phone", "date_of_birth", "status", "kyc_status",
              "source", "legacy_id", "created_at")
    return {k: customer.get(k) for k in fields}


def onboard(svc: Services, body: dict[str, Any]) -> dict[str, Any]:
    """onboardCustomer: register a new customer in the backend."""
    customer = svc.legacy.register_customer(body)
    _save(svc, customer, "new")
    return view(customer)


def migrate(svc: Services, body: dict[str, Any]) -> dict[str, Any]:
    """migrateCustomer: map to the legacy record format and migrate."""
    customer = svc.legacy.migrate_customer(to_legacy_record(body))
    _save(svc, customer, "migrated")
    return view(customer)


def customer_record(svc: Services, customer_id: str) -> dict[str, Any]:
    """The customer from the local cache, else from the backend (then cached)."""
    row = svc.store.get("customers", customer_id)
    if row is not None:
        return dict(row["data"])
    customer = svc.legacy.get_customer(customer_id)
    _save(svc, customer, customer.get("source", "new"))
    return customer


def get(svc: Services, customer_id: str) -> dict[str, Any]:
    """getCustomer: fresh from the backend; the cached copy (marked stale) when it is unavailable."""
    try:
        customer = svc.legacy.get_customer(customer_id)
    except ProviderUnavailable:
        row = svc.store.get("customers", customer_id)
        if row is None:
            raise
        return {**view(row["data"]), "stale": True}
    _save(svc, customer, customer.get("source", "new"))
    return view(customer)


def kyc_view(kyc: dict[str, Any]) -> dict[str, Any]:
    """The storefront KYC state: status plus what has to happen next."""
    status = kyc["status"]
    return {"customer_id": kyc["customer_id"], "status": status,
            "manual_approval_required": status == "pending_review", "hp_allowed": status == "approved",
            "message": KYC_MESSAGES.get(status, status), "submitted_at": kyc.get("submitted_at"),
            "reviewed_at": kyc.get("reviewed_at"), "rejection_reason": kyc.get("rejection_reason")}


def _remember_kyc(svc: Services, customer_id: str, status: str) -> None:
    """Keep the cached customer's KYC status current."""
    row = svc.store.get("customers", customer_id)
    if row is not None:
        svc.store.update("customers", customer_id, {"kyc_status": status, "updated_at": time.time(),
                                                    "data": {**row["data"], "kyc_status": status}})


def submit_kyc(svc: Services, customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """submitKyc: documents go to the backend for manual review."""
    kyc = svc.legacy.submit_kyc(customer_id, body)
    _remember_kyc(svc, customer_id, kyc["status"])
    return kyc_view(kyc)


def kyc_status(svc: Services, customer_id: str) -> dict[str, Any]:
    """getKycStatus."""
    kyc = svc.legacy.get_kyc(customer_id)
    _remember_kyc(svc, customer_id, kyc["status"])
    return kyc_view(kyc)
