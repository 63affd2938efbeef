"""`serve`: one contract, one simulator, on a port (used by `sandbox serve` and `python -m simulators`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .app import simulator_name


def announce(url: str) -> None:
    """The line supervisors and tests wait for."""
    print(f"READY {url}", flush=True)


@click.command("serve")
@click.argument("contract", type=click.Path(dir_okay=False))
@click.option("--name", help="Simulator name (default: the contract file's first word, e.g. 'payment').")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; non-loopback needs --token.")
@click.option("--port", default=0, show_default=True, type=int, help="Port; 0 picks a free one (printed).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for synthesized data and fault draws.")
@click.option("--profile", help="Fault profile to load at start (name or YAML file).")
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes; >1 shares state via SQLite.")
@click.option("--store", help="State store: 'memory' or sqlite:///PATH (default: memory, or SQLite when --workers>1).")
@click.option("--strict/--no-strict", default=True, show_default=True,
              help="Answer 500 when the simulator's own response breaks its contract.")
@click.option("--behaviours/--no-behaviours", default=True, show_default=True,
              help="Use the provider behaviours registered for this name (payment, delivery, legacy).")
@click.option("--webhook-target", help="URL that receives this simulator's webhooks.")
@click.option("--webhook-secret", default="whsec_sandbox", show_default=True, help="HMAC secret for webhooks.")
@click.option("--token", envvar="SANDBOX_TOKEN", help="Control-API token (required when --host is not loopback).")
@click.option("--journal-capacity", default=10_000, show_default=True, type=int, help="Journal ring-buffer size.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Behaviour setting, e.g. --option stale_read_rate=0.02 (see docs/providers.md).")
@click.option("--profiles-dir", multiple=True, type=click.Path(file_okay=False), help="Extra folders of profiles.")
def serve_command(contract: str, name: str | None, host: str, port: int, seed: int, profile: str | None,
                  workers: int, store: str | None, strict: bool, behaviours: bool, webhook_target: str | None,
                  webhook_secret: str, token: str | None, journal_capacity: int, options: tuple[str, ...],
                  profiles_dir: tuple[str, ...]) -> None:
    """Serve CONTRACT (an OpenAPI 3.0/3.1 file) as a simulator."""
    from .core.errors import SimulatorError

    name = name or simulator_name(contract)
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        raise click.UsageError(f"--host {host} exposes the control API beyond this machine; set --token (or SANDBOX_TOKEN)")
    if workers > 1 and store == "memory":
        raise click.UsageError("--workers > 1 needs a shared store: leave --store out (SQLite is chosen) "
                               "or pass --store sqlite:///PATH")
    temporary: list[str] = []
    if workers > 1 and not store:
        path = Path(".sandbox") / f"{name}-{os.getpid()}.db"
        temporary.append(str(path))
        path.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        store = f"sqlite:///{path}"
    from .app import create_app

    config = parse_options(options)
    try:  # build once, in the master: a bad contract or profile is one clear message, not a worker crash
        app = create_app(contract, name=name, seed=seed, store=store, strict=strict, profile=profile,
                         behaviours="auto" if behaviours else None, webhook_target=webhook_target,
                         webhook_secret=webhook_secret, token=token, journal_capacity=journal_capacity,
                         profiles_dirs=list(profiles_dir), config=config)
    except SimulatorError as e:
        raise click.ClickException(str(e)) from None

    from .server import serve

    serve(lambda: app, host=host, port=port, workers=workers, on_ready=announce, name=f"sandbox-{name}",
          cleanup=temporary)


def parse_options(options: tuple[str, ...]) -> dict[str, object]:
    """KEY=VALUE pairs, each value read as a YAML scalar (0.02 -> float, true -> bool)."""
    import yaml

    config: dict[str, object] = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{item}' is not KEY=VALUE, e.g. stale_read_rate=0.02", param_hint="--option")
        config[key.strip()] = yaml.safe_load(value)
    return config


def main() -> None:
    try:
        serve_command.main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
