"""Legacy backend: customers (new and migrated), login, password reset, KYC review, delivery addresses."""

from __future__ import annotations

import hashlib
import string
from datetime import date
from typing import Any

from simulators.core.behaviours import Reply, Request, SimContext
from simulators.core.clock import utc_iso

from .legacy import legacy, next_id, not_found, operation, problem, public, remember, rule, seconds, stale

CUSTOMER_ID_START = 41  # the first customer is CUS-00000042, as in the contract's examples
REJECT_PREFIX = "REJECT"  # a KYC document number starting with this is rejected at review
STATUS_MAP = {"A": "active", "S": "suspended", "C": "closed"}
MAX_ADDRESSES = 20
SESSION_TTL_S = 3600
ALNUM = string.ascii_letters + string.digits


def _hash(password: str) -> str:
    return hashlib.sha256(f"legacy-salt:{password}".encode()).hexdigest()


def load_customer(sim: SimContext, customer_id: str) -> dict[str, Any]:
    """The customer record (KYC review moved on by the clock first); 404 if unknown."""
    c = sim.store.get("customers", customer_id)
    if c is None:
        raise not_found("Customer", customer_id)
    return review_if_due(sim, c)


def customer_for_rule(sim: SimContext, customer_id: str, pointer: str = "/customer_id") -> dict[str, Any]:
    """A customer referenced in a body: unknown is a 422, not a 404."""
    c = sim.store.get("customers", customer_id)
    if c is None:
        raise rule(pointer, "an existing customer", customer_id, "unknown customer",
                   f"Customer {customer_id} does not exist.")
    return review_if_due(sim, c)


def review_if_due(sim: SimContext, c: dict[str, Any]) -> dict[str, Any]:
    """Finish an automatic KYC review once `kyc_review_delay` of simulator clock has passed."""
    kyc = c["_kyc"]
    if kyc["status"] != "pending_review" or kyc.get("_manual"):
        return c
    due = kyc["_submitted_ts"] + seconds(sim, "kyc_review_delay")
    if sim.clock.timestamp() < due:
        return c
    rejected = str(kyc.get("_document_number", "")).startswith(REJECT_PREFIX)
    set_kyc(sim, c, "rejected" if rejected else "approved", at_ts=due,
            reason="The identity document could not be verified." if rejected else None)
    return c


def set_kyc(sim: SimContext, c: dict[str, Any], status: str, *, at_ts: float | None = None,
            reason: str | None = None, document_type: str | None = None) -> None:
    """Move the KYC record and the customer's kyc_status together (and store them)."""
    remember(sim, c)
    kyc = c["_kyc"]
    at = utc_iso(at_ts) if at_ts is not None else sim.clock.iso()
    if document_type:
        kyc["document_type"] = document_type
    if status == "pending_review":
        kyc.update(submitted_at=at, reviewed_at=None, rejection_reason=None, _submitted_ts=at_ts or sim.clock.timestamp())
    elif status in ("approved", "rejected"):
        kyc.update(reviewed_at=at, rejection_reason=reason if status == "rejected" else None)
        kyc["document_type"] = kyc.get("document_type") or "passport"
        kyc["submitted_at"] = kyc.get("submitted_at") or at
    kyc["status"] = c["kyc_status"] = status
    sim.store.put("customers", c["id"], c)
    if status == "pending_review":
        sim.store.put("kyc_pending", c["id"], kyc["_submitted_ts"])
    else:
        sim.store.delete("kyc_pending", c["id"])


def new_customer(sim: SimContext, **fields: Any) -> dict[str, Any]:
    """A customer record with an empty KYC, stored under a new CUS id."""
    cid = fields.pop("id", None) or next_id(sim, "CUS", CUSTOMER_ID_START, taken="customers")
    c = {"id": cid, "email": fields["email"], "first_name": fields["first_name"], "last_name": fields["last_name"],
         "phone": fields["phone"], "date_of_birth": fields["date_of_birth"], "status": fields.get("status", "active"),
         "kyc_status": "not_submitted", "source": fields.get("source", "new"), "legacy_id": fields.get("legacy_id"),
         "created_at": sim.clock.iso(), "_password": fields.get("_password"),
         "_kyc": {"status": "not_submitted", "document_type": None, "submitted_at": None, "reviewed_at": None,
                  "rejection_reason": None}}
    sim.store.put("customers", cid, c)
    sim.store.put("customer_emails", c["email"].lower(), cid)
    return c


def _email_free(sim: SimContext, email: str) -> None:
    if sim.store.get("customer_emails", email.lower()) is not None:
        raise problem(409, "email-taken", "Email already registered", "A customer with this email already exists.")


def view(sim: SimContext, c: dict[str, Any]) -> dict[str, Any]:
    """The customer as the contract shows it, possibly a moment stale."""
    return public(stale(sim, c))


@operation("registerCustomer")
def register(req: Request, sim: SimContext) -> Reply:
    """A new customer (source new, KYC not_submitted); the email must be free."""
    b = req.body
    with sim.store.transaction():
        _email_free(sim, b["email"])
        c = new_customer(sim, email=b["email"], first_name=b["first_name"], last_name=b["last_name"],
                         phone=b["phone"], date_of_birth=b["date_of_birth"], _password=_hash(b["password"]))
    return Reply(201, public(c))


def map_legacy(record: dict[str, Any]) -> dict[str, Any]:
    """The previous platform's record in the current format (raises a 422 for an impossible date)."""
    surname, given = (part.strip() for part in record["FULL_NAME"].split(",", 1))
    day, month, year = (int(x) for x in record["DOB"].split("/"))
    try:
        dob = date(year, month, day).isoformat()
    except ValueError:
        raise rule("/DOB", "a real date DD/MM/YYYY", record["DOB"], "no such date",
                   f"DOB {record['DOB']} is not a real date.") from None
    national = "".join(ch for ch in record["TEL"] if ch.isdigit())
    return {"first_name": given, "last_name": surname.title(), "date_of_birth": dob,
            "phone": "+44" + national[1:], "status": STATUS_MAP[record["CUST_STATUS"]],
            "email": record["EMAIL_ADDR"], "legacy_id": record["legacy_id"], "source": "migrated"}


@operation("migrateCustomer")
def migrate(req: Request, sim: SimContext) -> Reply:
    """Create a customer from a previous-platform record (field mapping in map_legacy); once per legacy_id."""
    fields = map_legacy(req.body)
    with sim.store.transaction():
        done = sim.store.get("legacy_ids", fields["legacy_id"])
        if done is not None:
            raise problem(409, "already-migrated", "Legacy record already migrated",
                          f"{fields['legacy_id']} was migrated as {done}.")
        _email_free(sim, fields["email"])
        c = new_customer(sim, **fields)
        sim.store.put("legacy_ids", fields["legacy_id"], c["id"])
    return Reply(201, public(c))


@operation("getCustomer")
def get_customer(req: Request, sim: SimContext) -> Reply:
    """One customer (may be a moment stale after a write: the replica quirk)."""
    with sim.store.transaction():
        return Reply(200, view(sim, load_customer(sim, req.path_params["customer_id"])))


@operation("login")
def login(req: Request, sim: SimContext) -> Reply:
    """A session token for the right email and password; 401 otherwise, 403 for suspended or closed."""
    cid = sim.store.get("customer_emails", req.body["email"].lower())
    c = sim.store.get("customers", cid) if cid else None
    if c is None or not c.get("_password") or c["_password"] != _hash(req.body["password"]):
        raise problem(401, "invalid-credentials", "Invalid credentials", "The email or password is incorrect.")
    if c["status"] != "active":
        raise problem(403, f"account-{c['status']}", f"Account {c['status']}",
                      f"This account is {c['status']}; contact customer services.")
    token = "tok_" + "".join(sim.rng.choice(ALNUM) for _ in range(32))
    sim.store.put("sessions", token, {"customer_id": c["id"], "created_at": sim.clock.iso()})
    return Reply(200, {"token": token, "customer_id": c["id"],
                       "expires_at": utc_iso(sim.clock.timestamp() + SESSION_TTL_S)})


@operation("requestPasswordReset")
def password_reset(req: Request, sim: SimContext) -> Reply:
    """Always 202; a known email gets a reset recorded (namespace password_resets) for tests to see."""
    cid = sim.store.get("customer_emails", req.body["email"].lower())
    if cid:
        sim.store.put("password_resets", sim.new_id("rst"), {"customer_id": cid, "email": req.body["email"],
                                                            "requested_at": sim.clock.iso()})
    return Reply(202, {"status": "accepted"})


def kyc_view(sim: SimContext, c: dict[str, Any]) -> dict[str, Any]:
    return {"customer_id": c["id"], **public(stale(sim, c)["_kyc"])}


@operation("getKycStatus")
def get_kyc(req: Request, sim: SimContext) -> Reply:
    """The KYC record; an automatic review completes once its delay has passed."""
    with sim.store.transaction():
        return Reply(200, kyc_view(sim, load_customer(sim, req.path_params["customer_id"])))


@operation("submitKyc")
def submit_kyc(req: Request, sim: SimContext) -> Reply:
    """Documents in -> pending_review; 409 while pending or once approved; allowed after a rejection."""
    with sim.store.transaction():
        c = load_customer(sim, req.path_params["customer_id"])
        if c["kyc_status"] in ("pending_review", "approved"):
            raise problem(409, "kyc-in-progress" if c["kyc_status"] == "pending_review" else "kyc-approved",
                          "KYC already submitted",
                          "KYC documents are already under review." if c["kyc_status"] == "pending_review"
                          else "KYC is already approved.", kyc_status=c["kyc_status"])
        c["_kyc"]["_document_number"] = req.body["document_number"]
        c["_kyc"].pop("_manual", None)
        set_kyc(sim, c, "pending_review", document_type=req.body["document_type"])
    return Reply(202, {"customer_id": c["id"], **public(c["_kyc"])})


@legacy.on_tick
def review_kyc(sim: SimContext) -> None:
    """Complete automatic KYC reviews that are due (approved, or rejected for REJECT... documents)."""
    for cid, _ in sim.store.items("kyc_pending"):
        with sim.store.transaction():
            c = sim.store.get("customers", cid)
            if c is None:
                sim.store.delete("kyc_pending", cid)
            else:
                review_if_due(sim, c)


# ----------------------------------------------------------------------------------------------- addresses
@operation("listAddresses")
def list_addresses(req: Request, sim: SimContext) -> Reply:
    """The customer's addresses, default first."""
    c = load_customer(sim, req.path_params["customer_id"])
    items = sim.store.get("addresses", c["id"]) or []
    return Reply(200, {"items": sorted(items, key=lambda a: not a["default"])})


@operation("addAddress")
def add_address(req: Request, sim: SimContext) -> Reply:
    """Add a GB address (others 422); the first becomes the default; at most 20 (409)."""
    b = req.body
    with sim.store.transaction():
        c = load_customer(sim, req.path_params["customer_id"])
        if b["country"] != "GB":
            raise rule("/country", "GB", b["country"], "only GB addresses are deliverable",
                       f"We deliver to GB only, not {b['country']}.")
        items = sim.store.get("addresses", c["id"]) or []
        if len(items) >= MAX_ADDRESSES:
            raise problem(409, "address-limit", "Address limit reached",
                          f"A customer can keep at most {MAX_ADDRESSES} addresses.")
        default = not items or bool(b.get("default"))
        if default:
            for a in items:
                a["default"] = False
        address = {"id": next_id(sim, "ADR"), "line1": b["line1"], "line2": b.get("line2"), "city": b["city"],
                   "postcode": b["postcode"], "country": b["country"], "default": default}
        items.append(address)
        sim.store.put("addresses", c["id"], items)
        sim.store.put("address_owner", address["id"], c["id"])
    return Reply(201, address)


# ----------------------------------------------------------------------------------------------- states
def ensure_customer(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """The customer named by params (created with an address if missing)."""
    cid = str(params.get("customer_id") or "")
    c = sim.store.get("customers", cid) if cid else None
    if c is not None:
        return c
    n = cid[-8:] if cid else str(sim.store.incr(META_FIXTURES, "n"))
    email = str(params.get("email") or f"customer{int(n)}@example.com")
    c = new_customer(sim, id=cid or None, email=email, first_name=str(params.get("first_name", "Ada")),
                     last_name=str(params.get("last_name", "Lovelace")), phone="+447700900123",
                     date_of_birth="1985-12-10", _password=_hash(str(params.get("password", "correct-horse-battery"))))
    address: dict[str, Any] = {"id": next_id(sim, "ADR"), "line1": "12 Analytical Row", "line2": None,
                               "city": "London", "postcode": "SW1A 1AA", "country": "GB", "default": True}
    sim.store.put("addresses", c["id"], [address])
    sim.store.put("address_owner", address["id"], c["id"])
    return c


META_FIXTURES = "legacy_fixtures"


def _state_result(sim: SimContext, c: dict[str, Any]) -> dict[str, Any]:
    addresses = sim.store.get("addresses", c["id"]) or []
    return {"customer_id": c["id"], "email": c["email"], "kyc_status": c["kyc_status"],
            "address_id": addresses[0]["id"] if addresses else None}


@legacy.state("customer-exists", "customer {customer_id} exists", customer_id="CUS-00000042")
def state_customer(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """An active customer with one GB address (password 'correct-horse-battery' unless given)."""
    return _state_result(sim, ensure_customer(sim, params))


@legacy.state("kyc-approved", "customer {customer_id} has approved KYC", customer_id="CUS-00000042")
def state_kyc_approved(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """The customer exists and its KYC is approved (manual approval)."""
    c = ensure_customer(sim, params)
    set_kyc(sim, c, "approved")
    return _state_result(sim, c)


@legacy.state("kyc-pending", "customer {customer_id} has pending KYC", customer_id="CUS-00000042")
def state_kyc_pending(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """The customer's KYC waits for manual review (no automatic decision)."""
    c = ensure_customer(sim, params)
    c["_kyc"]["_manual"] = True
    set_kyc(sim, c, "pending_review", document_type="passport")
    return _state_result(sim, c)


@legacy.state("kyc-rejected", "customer {customer_id} has rejected KYC", customer_id="CUS-00000042")
def state_kyc_rejected(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """The customer's KYC was rejected (it may be submitted again)."""
    c = ensure_customer(sim, params)
    set_kyc(sim, c, "rejected", reason=str(params.get("reason", "The identity document could not be verified.")))
    return _state_result(sim, c)


@legacy.on_reset
def seed_example_customer(sim: SimContext) -> None:
    """The contracts' example customer, CUS-00000042 with address ADR-00000001: the documented requests
    (the storefront's placeOrder example, the README's curl lines) work against a fresh sandbox."""
    ensure_customer(sim, {"customer_id": "CUS-00000042"})
