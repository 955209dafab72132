"""`cityops load sensors`, `cityops sensors …` and `cityops mqtt …`: the registry, its rules, the broker."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spatial.settings import StoreSettings
from spatial.terminal import cli_actor, console, engine, reported_errors, store

app = typer.Typer()
load = typer.Typer()
sensors_app = typer.Typer(no_args_is_help=True, help="The sensor registry, its kinds and its rules.")
mqtt_app = typer.Typer(no_args_is_help=True, help="The platform's own MQTT broker (Mosquitto).")
app.add_typer(sensors_app, name="sensors")
app.add_typer(mqtt_app, name="mqtt")


@load.command("sensors")
def load_sensors(path: Annotated[Path, typer.Argument(help="A sensor registry (.csv, .geojson)")]) -> None:
    """Check a sensor registry and upsert it (all rows or none); a sensor moved or retired closes its alarms."""
    load_registry(store(), path)


def load_registry(settings: StoreSettings, path: Path, synthetic: bool = False) -> None:
    """Load a registry file and print what changed (``synthetic``: the demo's invented devices)."""
    from sensing.registry import load_registry as load_file

    with reported_errors():
        with console.status(f"checking and loading {path.name}"):
            result = load_file(engine(settings), path, actor=cli_actor(), synthetic=synthetic)
        console.print(f"{result.rows:,} sensors: {result.inserted:,} new, {result.updated:,} updated")


@sensors_app.command("kinds")
def sensor_kinds() -> None:
    """The kinds of sensor, their units and physical ranges, and the rules each is judged by."""
    from sensing.queries.registry import KINDS, RULES

    with reported_errors(), engine(store()).connect() as conn:
        kinds = Table("kind", "name", "unit", "physical range", "case category", title="sensor kinds")
        for code, name, name_en, unit, low, high, category in conn.execute(KINDS):
            kinds.add_row(code, f"{name} ({name_en})", unit, f"{low:g} … {high:g}", category or "—")
        console.print(kinds)
        rules = Table("kind", "rule", "name", "level", "raise / clear", "for", "device", title="rules (as data)")
        for kind, rule, name, severity, raise_at, clear_at, seconds, silent, k, ring, device in conn.execute(RULES):
            levels = (
                f"{raise_at:g} / {clear_at:g}"
                if raise_at is not None
                else f"silent {silent} min"
                if silent
                else f"{k} within {ring} rings"
            )
            rules.add_row(kind, rule, name, severity, levels, f"{seconds} s" if seconds else "—", device or "every")
        console.print(rules)


@sensors_app.command("simulate")
def simulate_sensors(
    interval: Annotated[float, typer.Option(help="Seconds between two readings of one device")] = 60.0,
    storm_after: Annotated[float, typer.Option(help="Seconds until the rainstorm (negative: none)")] = 120.0,
    storm_lon: Annotated[float, typer.Option(help="The storm's centre, longitude")] = 118.780,
    storm_lat: Annotated[float, typer.Option(help="The storm's centre, latitude (default: 秦淮河 by 中华门)")] = 32.012,
    seconds: Annotated[float | None, typer.Option(help="Stop after (default: Ctrl-C)")] = None,
) -> None:
    """Publish plausible readings of every registered device over MQTT, with a planted rainstorm (for the demo)."""
    from sensing.loops import broker_address
    from sensing.settings import SensingSettings
    from sensing.simulate import devices, run

    with reported_errors():
        settings = store()
        fleet = devices(engine(settings))
        address = broker_address(settings, SensingSettings(), gateway=True)
        console.print(
            f"simulating {len(fleet):,} sensors, one reading each every {interval:g} s"
            + (f", a rainstorm at {storm_lon}, {storm_lat} after {storm_after:g} s" if storm_after >= 0 else "")
        )
        with console.status("publishing") as status:
            sent = run(
                address,
                settings.city,
                fleet,
                interval_s=interval,
                storm_after_s=storm_after if storm_after >= 0 else None,
                storm_centre=(storm_lon, storm_lat),
                seconds=seconds,
                on_tick=lambda s: status.update(
                    f"{s.readings:,} readings published{' · rainstorm' if s.storm else ''}"
                ),
            )
        console.print(f"{sent.readings:,} readings published")


def broker_ready(settings: StoreSettings) -> None:
    """The platform's broker started, unless ``CITYOPS_MQTT_URL`` names another one (``cityops up``)."""
    from sensing.broker import EmbeddedBroker
    from sensing.settings import SensingSettings

    if SensingSettings().mqtt_url is None:
        status = EmbeddedBroker(settings).start()
        console.print(f"MQTT broker (Mosquitto) on 127.0.0.1:{status.port}")


@mqtt_app.command("start")
def mqtt_start() -> None:
    """Start the platform's broker under the data directory (a no-op when it runs)."""
    from sensing.broker import EmbeddedBroker

    with reported_errors():
        status = EmbeddedBroker(store()).start()
        console.print(f"Mosquitto running (pid {status.pid}, 127.0.0.1:{status.port}, {status.directory})")


@mqtt_app.command("stop")
def mqtt_stop() -> None:
    """Stop the platform's broker; persistent sessions and queued readings are saved first."""
    from sensing.broker import EmbeddedBroker

    with reported_errors():
        EmbeddedBroker(store()).stop()
        console.print("Mosquitto stopped")


@mqtt_app.command("status")
def mqtt_status() -> None:
    """Whether the broker runs, and the URL gateways publish to (their password is in broker.json)."""
    from sensing.broker import GATEWAY_USER, EmbeddedBroker, topic

    with reported_errors():
        broker = EmbeddedBroker(store())
        status = broker.status()
        state = "running" if status.running else "stopped"
        console.print(f"Mosquitto {state}: 127.0.0.1:{status.port} ({status.directory})")
        console.print(f"gateways log in as {GATEWAY_USER!r} and publish to {topic(store().city, '<device>')}")
