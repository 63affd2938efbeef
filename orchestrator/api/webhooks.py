"""Webhook receivers for the payment and delivery providers."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from ..flows import webhooks

bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks/<any(payment, delivery):provider>")
def receive(provider: str) -> ResponseReturnValue:
    """receivePaymentWebhook / receiveDeliveryWebhook: 401 on a bad signature, 200 otherwise."""
    svc = current_app.extensions["orchestrator"]
    result = webhooks.receive(svc, provider, dict(request.headers), request.get_data(cache=False))
    return jsonify(result), 200
