"""`sandbox pact verify|check`: replay pacts against a simulator (states via the control API) or any base URL."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import click
import requests
import yaml
from rich.console import Console

from .errors import SandboxError

ROOT = Path(__file__).resolve().parents[1]
PACTS_DIR = ROOT / "contracts" / "pacts"
CONTRACTS = ROOT / "contracts"
CONSUMER = "orchestrator"
console = Console()


def pact_files(provider: str | None = None, source: Path | None = None) -> list[Path]:
    """The pact files in SOURCE (a file or a folder, default contracts/pacts/) for PROVIDER (or all)."""
    source = source or PACTS_DIR
    files = [source] if source.is_file() else sorted(source.glob("*.json"))
    if provider:
        files = [f for f in files if _provider_of(f) == provider]
    return files


def _provider_of(path: Path) -> str:
    try:
        return str(json.loads(path.read_text())["provider"]["name"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SandboxError(f"{path}: not a pact file ({e})") from e


@dataclass
class StateApplier:
    """Pact state handler: 'control' posts each state to the simulator's control API; 'skip'; or a map file."""

    base_url: str
    mode: str = "control"  # control | skip | map
    mapping: dict[str, Any] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_option(cls, base_url: str, option: str) -> StateApplier:
        """--states control|skip|map:FILE (FILE: YAML {pact state: control-API state name, or null to skip})."""
        if option in ("control", "skip"):
            return cls(base_url, option)
        if option.startswith("map:"):
            path = Path(option[4:])
            data = yaml.safe_load(path.read_text()) if path.is_file() else None
            if not isinstance(data, dict):
                raise SandboxError(f"--states {option}: {path} must be a YAML mapping of pact state -> state")
            return cls(base_url, "map", data)
        raise SandboxError(f"--states {option!r}: use control, skip or map:FILE")

    def __call__(self, state: str, action: str, parameters: dict[str, Any] | None = None) -> None:
        if not state or self.mode == "skip":
            return None
        if action == "teardown":
            if self.mode == "control":
                requests.post(f"{self.base_url}/__sandbox/reset", timeout=10)
            return None
        name = state
        if self.mode == "map":
            if state not in self.mapping:
                return self._fail(f"provider state {state!r} is not in the --states map (map it, or to null to skip)")
            if self.mapping[state] is None:
                return None
            name = str(self.mapping[state])
        try:
            r = requests.post(f"{self.base_url}/__sandbox/states/{quote(name, safe='')}", json=parameters or {},
                              timeout=10)
        except requests.RequestException as e:
            return self._fail(f"provider state {state!r}: the control API did not answer: {e}")
        if r.status_code >= 300:
            return self._fail(f"provider state {state!r} failed to apply: {r.status_code} {r.text[:500]}")
        self.applied.append(state)
        return None

    def _fail(self, message: str) -> None:
        # Recorded, not raised: the verifier would retry a failing handler for minutes. verify() turns any
        # recorded error into a failed verification, whatever the replay said (pact-python#286).
        self.errors.append(message)


@dataclass
class VerifyResult:
    """The outcome of one provider verification: ok, the verifier's output, state errors and mismatches."""

    provider: str
    base_url: str
    files: list[Path]
    ok: bool
    output: str
    state_errors: list[str]
    mismatches: list[str]

    def format(self) -> str:
        head = f"pact verification of {self.provider} at {self.base_url} ({len(self.files)} pact file(s)): " \
               f"{'passed' if self.ok else 'FAILED'}"
        lines = [head, *(f"  state error: {e}" for e in self.state_errors), *(f"  {m}" for m in self.mismatches)]
        if not self.ok:
            lines.append(self.output)
        return "\n".join(lines)


def _mismatches(results: dict[str, Any]) -> list[str]:
    out = []
    for error in results.get("errors") or []:
        where = error.get("interaction", "?")
        mismatch = error.get("mismatch") or {}
        for m in mismatch.get("mismatches") or [mismatch]:
            out.append(f"{where}: {m.get('type', '')} {m.get('path', '')} expected {m.get('expected')!r} "
                       f"actual {m.get('actual')!r} {m.get('mismatch', m.get('message', ''))}".strip())
    return out


def verify(provider: str, base_url: str, *, states: str = "control", source: Path | None = None) -> VerifyResult:
    """Replay every pact of PROVIDER against BASE_URL; a state that fails to apply fails the verification."""
    os.environ.setdefault("PACT_DO_NOT_TRACK", "true")
    from pact import Verifier

    files = pact_files(provider, source)
    if not files:
        raise SandboxError(f"no pact for provider {provider!r} in {source or PACTS_DIR}")
    url = urlsplit(base_url)
    applier = StateApplier.from_option(base_url.rstrip("/"), states)
    verifier = Verifier(provider, host=url.hostname or "127.0.0.1")  # the host must equal the transport's
    verifier.add_transport(url=base_url)
    for f in files:
        verifier.add_source(f)
    verifier.state_handler(applier, teardown=True)
    ok = True
    try:
        verifier.verify()
    except RuntimeError:
        ok = False
    results = verifier.results
    # pact-python#286: never let a state that did not apply pass as a verified interaction
    ok = ok and not applier.errors
    return VerifyResult(provider, base_url, files, ok, verifier.output(strip_ansi=True), list(applier.errors),
                        _mismatches(results if isinstance(results, dict) else {}))


@click.group("pact")
def pact() -> None:
    """Verify pacts against simulators or any base URL; check them against the providers' contracts."""


@pact.command("verify")
@click.option("--provider", required=True, help="payment, delivery or legacy (the pact's provider name).")
@click.option("--base-url", help="Verify against this URL (a real provider sandbox); default: start the simulator.")
@click.option("--states", default="control", show_default=True,
              help="control (the simulator's control API), skip, or map:FILE (YAML: pact state -> state name).")
@click.option("--pacts", "source", type=click.Path(exists=True, path_type=Path), help="A pact file or folder.")
def verify_command(provider: str, base_url: str | None, states: str, source: Path | None) -> None:
    """Replay the pacts of one provider; exit 1 on a mismatch or a provider state that did not apply."""
    if base_url:
        result = verify(provider, base_url, states=states, source=source)
    else:
        from .supervisor import spawn_ready

        contract = CONTRACTS / f"{provider}.openapi.yaml"
        if not contract.is_file():
            raise SandboxError(f"no contract {contract} to start a {provider} simulator from; give --base-url")
        child = spawn_ready(provider, ["-m", "simulators", "serve", str(contract), "--name", provider,
                                       "--port", "0"], cwd=ROOT)
        try:
            result = verify(provider, child.url, states=states, source=source)
        finally:
            child.stop()
    console.print(result.format(), highlight=False, markup=False, soft_wrap=True)
    if not result.ok:
        raise SystemExit(1)


@pact.command("check")
@click.option("--pacts", "source", type=click.Path(exists=True, path_type=Path), help="A pact file or folder.")
@click.option("--contract", "contracts", multiple=True, metavar="PROVIDER=FILE",
              help="Check a provider's pacts against this contract instead of contracts/<provider>.openapi.yaml.")
def check_command(source: Path | None, contracts: tuple[str, ...]) -> None:
    """Every interaction of every pact against its provider's OpenAPI contract (bi-directional check)."""
    from .pact_check import check_pacts

    overrides = dict(item.split("=", 1) for item in contracts)
    problems, checked = check_pacts(pact_files(None, source), overrides={k: Path(v) for k, v in overrides.items()})
    for p in problems:
        console.print(p.format(), highlight=False, markup=False, soft_wrap=True)
    if problems:
        console.print(f"[red]{len(problems)} mismatch(es)[/] in {checked} interaction(s)")
        raise SystemExit(1)
    console.print(f"[green]{checked} interaction(s) match their providers' contracts[/]")
