"""The `sandbox` command: serve, up, validate, faults, journal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from .errors import SandboxError

console = Console(soft_wrap=True)  # never break a file:line or a command across lines


# Commands that live in their own modules, imported only when used: "name" -> "module:attribute".
LAZY_COMMANDS = {
    "run": ("sandbox.scenarios.cli:run", "Run scenario suites (pytest) against the sandbox or any SUT."),
    "fuzz": ("sandbox.fuzz:fuzz", "Schemathesis against a simulator or the SUT, with fault profiles."),
    "pact": ("sandbox.pact:pact", "Verify pacts against simulators or any base URL; check them against contracts."),
    "contract": ("sandbox.contract_diff:contract", "Compare contract versions for breaking changes."),
    "load": ("sandbox.load:load", "Locust load tests with fault timelines and SLO gates."),
}


class LazyGroup(click.Group):
    """A group whose heavier commands are imported on first use (the CLI starts fast)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            import importlib

            target, help_text = LAZY_COMMANDS[name]
            module, _, attr = target.partition(":")
            try:
                command: click.Command = getattr(importlib.import_module(module), attr)
            except ImportError as e:
                reason = str(e)

                @click.command(name, help=help_text, context_settings={"ignore_unknown_options": True})
                @click.argument("args", nargs=-1)
                def unavailable(args: tuple[str, ...]) -> None:
                    raise click.ClickException(f"'sandbox {name}' is not available: {reason}")

                return unavailable
            return command
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Commerce Integration Sandbox: contract-driven simulators, a reference integration layer, scenarios."""


def _serve_command() -> click.Command:
    from simulators.cli import serve_command

    return serve_command


cli.add_command(_serve_command(), "serve")


@cli.command()
@click.option("--config", "config_path", default="sandbox.yaml", show_default=True, type=click.Path())
@click.option("--ports", type=click.Choice(["fixed", "random"]), default="fixed", show_default=True,
              help="fixed: the ports in sandbox.yaml; random: free ports picked at start.")
@click.option("--profile", help="Fault profile to load on every simulator at start.")
@click.option("--no-orchestrator", is_flag=True, help="Start the simulators only.")
@click.option("--verbose", is_flag=True, help="Echo the servers' logs.")
def up(config_path: str, ports: str, profile: str | None, no_orchestrator: bool, verbose: bool) -> None:
    """Start every simulator in sandbox.yaml and the orchestrator; Ctrl-C stops them all."""
    from .config import load_config
    from .supervisor import Supervisor

    config = load_config(config_path)
    sup = Supervisor(config, random_ports=ports == "random", profile=profile,
                     orchestrator=not no_orchestrator, echo=verbose)
    with console.status("starting simulators and the orchestrator…"):
        sup.start()
    path = sup.write_endpoints()
    table = Table(title="Commerce Integration Sandbox is up")
    for column in ("name", "url", "control API / dashboard", "pid"):
        table.add_column(column)
    for name, child in sup.children.items():
        control = f"{child.url}/__sandbox/" if name != "orchestrator" else f"{child.url}/health"
        table.add_row(name, child.url, control, str(child.pid))
    console.print(table)
    console.print(f"endpoints written to [bold]{path}[/]; Ctrl-C to stop.")
    died = sup.wait()
    sup.stop()
    path.unlink(missing_ok=True)
    if died:
        tail = "".join(sup.children[died].output[-30:])
        raise SandboxError(f"{died} exited unexpectedly; everything was stopped. Its last output:\n{tail}")
    console.print("stopped.")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
def validate(files: tuple[str, ...]) -> None:
    """Check contracts (OpenAPI) and fault profiles (YAML); print file:line errors."""
    from simulators.core.contract import load_contract
    from simulators.core.errors import SimulatorError
    from simulators.core.profiles import load_profile_file

    failed = 0
    for name in files:
        try:
            text = Path(name).read_text() if Path(name).is_file() else ""
            is_contract = "openapi:" in text or '"openapi"' in text or "swagger" in text
            if is_contract:
                c = load_contract(name)
                console.print(f"[green]ok[/] {name}: {c.title} {c.version}, {len(c.operations)} operations")
            else:
                rules = load_profile_file(name)
                console.print(f"[green]ok[/] {name}: profile with {len(rules)} rules")
        except (SimulatorError, OSError) as e:
            failed += 1
            console.print(f"[red]error[/] {e}", highlight=False)
    if failed:
        raise SystemExit(1)


@cli.group()
def faults() -> None:
    """Add, list and clear fault rules on a running simulator."""


def _client(sim: str) -> Any:
    from .client import ControlClient

    return ControlClient.for_simulator(sim)


@faults.command("add")
@click.option("--sim", required=True, help="Simulator name (payment, delivery, legacy, notifications).")
@click.option("--rule", "rule_text", help="The rule as JSON or YAML text.")
@click.option("--file", "rule_file", type=click.Path(exists=True, dir_okay=False), help="A YAML/JSON file with one rule.")
@click.option("--operation", help="Shorthand: match this operationId …")
@click.option("--status", type=int, help="… and answer this status")
@click.option("--delay-ms", type=float, help="… or delay this long")
@click.option("--times", type=int, help="Fire at most this many times.")
def faults_add(sim: str, rule_text: str | None, rule_file: str | None, operation: str | None,
               status: int | None, delay_ms: float | None, times: int | None) -> None:
    """Add one fault rule."""
    if rule_file:
        rule = yaml.safe_load(Path(rule_file).read_text())
    elif rule_text:
        rule = yaml.safe_load(rule_text)
    else:
        if not operation or (status is None and delay_ms is None):
            raise click.UsageError("give --rule/--file, or --operation with --status or --delay-ms")
        effects: list[dict[str, Any]] = []
        if delay_ms is not None:
            effects.append({"type": "delay", "distribution": {"type": "fixed", "ms": delay_ms}})
        if status is not None:
            effects.append({"type": "status", "status": status})
        rule = {"match": {"operation": operation, **({"times": times} if times else {})}, "effects": effects}
    added = _client(sim).add_fault(rule)
    console.print_json(json.dumps(added))


@faults.command("list")
@click.option("--sim", required=True)
def faults_list(sim: str) -> None:
    """List active fault rules with their hit counts."""
    console.print_json(json.dumps(_client(sim).faults()))


@faults.command("clear")
@click.option("--sim", required=True)
def faults_clear(sim: str) -> None:
    """Remove every fault rule."""
    _client(sim).clear_faults()
    console.print(f"cleared fault rules of {sim}")


@cli.command()
@click.option("--sim", required=True, help="Simulator name.")
@click.option("--operation", help="Only this operationId.")
@click.option("--status", type=int, help="Only this status.")
@click.option("--correlation-id", help="Only this correlation id.")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print raw JSON.")
def journal(sim: str, operation: str | None, status: int | None, correlation_id: str | None, limit: int,
            as_json: bool) -> None:
    """Show what a simulator received and answered, newest last."""
    result = _client(sim).journal(operation=operation, status=status, correlation_id=correlation_id, limit=limit)
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table(title=f"{sim} journal ({result['size']}/{result['capacity']}, {result['evicted']} evicted)")
    for column in ("seq", "time", "operation", "request", "status", "faults", "ms"):
        table.add_column(column)
    for e in result["entries"]:
        table.add_row(str(e["seq"]), str(e.get("time", ""))[11:23], str(e.get("operation") or ""),
                      f"{e.get('method', '')} {e.get('path', e.get('url', ''))}", str(e.get("status") or "lost"),
                      ", ".join(e.get("faults") or []), str(e.get("duration_ms", "")))
    console.print(table)


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        from gevent import monkey

        monkey.patch_all()  # the simulator's workers are gevent workers: patch before ssl is imported
    try:
        cli.main(standalone_mode=False)
    except SandboxError as e:
        console.print(f"[red]error:[/] {e}", highlight=False)
        raise SystemExit(2) from None
    except click.exceptions.Abort:
        raise SystemExit(130) from None
    except click.ClickException as e:
        e.show()
        raise SystemExit(e.exit_code) from None
    except SystemExit:
        raise
