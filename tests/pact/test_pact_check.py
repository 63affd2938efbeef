"""`sandbox pact check`: committed pacts match the contracts; drifted pacts and contracts are caught clearly."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from sandbox.pact import PACTS_DIR, pact_files
from sandbox.pact_check import check_pacts

DATA = Path(__file__).resolve().parents[1] / "data" / "pacts"
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_committed_pacts_match_their_contracts() -> None:
    problems, checked = check_pacts(pact_files(None, PACTS_DIR))
    assert checked >= 15
    assert not problems, "\n".join(p.format() for p in problems)


def test_a_drifted_pact_is_caught_with_file_interaction_and_pointer() -> None:
    problems, checked = check_pacts([DATA / "drifted-payment.json"])
    lines = [p.format() for p in problems]
    assert checked == 3
    text = "\n".join(lines)
    assert "drifted-payment.json: 'an authorization with a capture method the provider does not offer': " \
           "request (authorizePayment) /capture_method:" in text
    assert "'a read expecting a field the provider never sends': response 200 (getPayment) /risk_score: field " \
           "'risk_score' is expected by the consumer but not in the provider's schema" in text
    assert "response 200 (getPayment) /amount:" in text
    assert "'a payment search the provider does not have': route /payments/search: POST /payments/search is " \
           "not an operation of" in text


def test_a_drifted_contract_is_caught(tmp_path: Path) -> None:
    doc = yaml.safe_load((CONTRACTS / "payment.openapi.yaml").read_text())
    status = doc["components"]["schemas"]["PaymentStatus"] if "PaymentStatus" in doc["components"]["schemas"] \
        else doc["components"]["schemas"]["Payment"]["properties"]["status"]
    status["enum"] = [s for s in status["enum"] if s != "voided"]
    drifted = tmp_path / "payment.openapi.yaml"
    drifted.write_text(yaml.safe_dump(doc, sort_keys=False))
    problems, _ = check_pacts(pact_files("payment", PACTS_DIR), overrides={"payment": drifted})
    assert [p.interaction for p in problems] == ["a void of an authorized payment"]
    assert problems[0].pointer == "/status" and "voided" in problems[0].message


def test_cli_exits_non_zero_on_mismatch_and_zero_when_clean() -> None:
    from sandbox.cli import cli

    runner = CliRunner()
    bad = runner.invoke(cli, ["pact", "check", "--pacts", str(DATA / "drifted-payment.json")])
    assert bad.exit_code == 1, bad.output
    assert "mismatch(es) in 3 interaction(s)" in bad.output
    good = runner.invoke(cli, ["pact", "check"])
    assert good.exit_code == 0, good.output
