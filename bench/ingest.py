"""Ingest throughput against its two baselines, in two modes, in one run.

    .venv/bin/python bench/ingest.py --uplinks 50000

drain: K uplinks wait in the broker for the subscriber's persistent session while it is stopped,
       then it starts (catch-up after an outage; no publisher competing for the CPU).
live:  a publisher process sends at full speed while the subscriber runs.

Subscribers measured: `meetnet ingest` (QoS 1, ack after commit, full decoder/dead-letter/metrics
path), a bare paho subscriber that only counts (the client/broker limit), and a naive bridge that
INSERTs each measurement in its own transaction (run on fewer uplinks; rates compare fairly).
Messages are The Things Stack uplinks of ~1.2 KB with 3-6 CayenneLPP measurements. Rates are
from the first message (drain: the subscriber's connection, when the broker starts sending its
session's queue; live: the first publish) to the last commit / message, so start-up (imports,
connecting to the database) is not counted; so is the CPU time per uplink.

`--rounds N` repeats everything N times, the baseline first in every other round, and reports
medians (ratios: the median of the rounds' own ratios, with their range): on a shared machine the
speed drifts between runs by more than the differences being measured.

Needs PostgreSQL (MEETNET_TEST_DATABASE_URL, default the local server) and `mosquitto` on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from decoders import Measurement  # noqa: E402
from decoders.cayenne_lpp import encode  # noqa: E402
from meetnet.database import prepare  # noqa: E402
from meetnet.embedded import local_mosquitto_config  # noqa: E402
from simulator import Fleet  # noqa: E402

SERVER_URL = os.environ.get(
    "MEETNET_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
EXTRA = (
    Measurement("illuminance", 420, sensor=4),
    Measurement("air_temperature", 18.5, sensor=5),
    Measurement("relative_humidity", 55.0, sensor=6),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def messages(count: int, app: str, devices: int = 1000) -> tuple[list[tuple[str, bytes]], int]:
    """TTS uplinks of ~1.2 KB (one gateway, network and model ids) with 3-6 measurements each,
    from `devices` devices in turn."""
    fleet = Fleet(devices, seed=3, application_id=app)
    stream = fleet.stream(interval_s=0)
    out, rows = [], 0
    for i in range(count):
        up = next(stream)
        doc = orjson.loads(up.body)
        measurements = up.measurements + EXTRA[: i % 4]
        rows += len(measurements)
        doc["uplink_message"]["frm_payload"] = base64.b64encode(encode(measurements, 2)).decode()
        # The simulator's envelopes vary in size with the radio model; keep them near the
        # ~1.2 KB of the issue: one gateway heard it, network and device repository ids set.
        doc["uplink_message"]["rx_metadata"] = doc["uplink_message"]["rx_metadata"][:1]
        doc["uplink_message"].setdefault(
            "network_ids",
            {
                "net_id": "000013",
                "ns_id": "EC656E0000000181",
                "tenant_id": "ttn",
                "cluster_id": "eu1",
                "cluster_address": "eu1.cloud.thethings.network",
            },
        )
        doc["uplink_message"]["version_ids"] = {
            "brand_id": "acme",
            "model_id": "climate-q1",
            "hardware_version": "1.0",
            "firmware_version": "1.2",
            "band_id": "EU_863_870",
        }
        out.append((up.topic, orjson.dumps(doc)))
    return out, rows


class Broker:
    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        config = local_mosquitto_config(self.port, workdir) + "log_dest none\n"
        (workdir / "mosquitto.conf").write_text(config)
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", str(workdir / "mosquitto.conf")])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def publish_all(port: int, batch: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 as fast as the broker confirms (MQTT 5, like ChirpStack)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    pending = []
    for topic, body in batch:
        pending.append(client.publish(topic, body, qos=1))
        if len(pending) >= 2000:
            for info in pending:
                info.wait_for_publish(60)
            pending.clear()
    for info in pending:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


# --- roles run as their own processes ---------------------------------------------------------


def role_counter(port: int, client_id: str, topic: str, expect: int) -> None:
    """Bare paho QoS 1 subscriber with a persistent session; prints its finish time."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    seen = 0
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal seen
        seen += 1
        if seen >= expect:
            done.set()

    def on_connect(client: mqtt.Client, *args: object) -> None:
        client.subscribe(topic, qos=1)
        print(f"connected {time.process_time()}", flush=True)

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.on_message = on_message
    client.on_connect = on_connect
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 1000
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    if expect == 0:
        time.sleep(0.5)
    else:
        done.wait(600)
    cpu = time.process_time()
    print(f"done {time.time()} {seen} {cpu}", flush=True)
    client.disconnect()
    client.loop_stop()


def role_naive(port: int, client_id: str, topic: str, url: str) -> None:
    """Per message: parse, decode, and INSERT each measurement in its own transaction."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    from decoders.cayenne_lpp import decode
    from ingest.tts import parse_uplink

    async def main() -> None:
        conn = await asyncpg.connect(url)
        quantities = {r["key"]: r["id"] for r in await conn.fetch("SELECT key, id FROM quantities")}
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[bytes] = asyncio.Queue()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=False,
        )
        client.on_message = lambda c, u, m: loop.call_soon_threadsafe(inbox.put_nowait, m.payload)
        client.on_connect = lambda c, *a: (
            c.subscribe(topic, qos=1),
            print("connected", flush=True),
        )
        client.connect("127.0.0.1", port)
        client.loop_start()
        while True:
            body = await inbox.get()
            up = parse_uplink(body)
            device_id = await conn.fetchval(
                "INSERT INTO devices (dev_eui) VALUES ($1) ON CONFLICT (dev_eui) "
                "DO UPDATE SET last_seen_at = now() RETURNING id",
                up.dev_eui,
            )
            for m in decode(up.payload, up.f_port).measurements:
                await conn.execute(
                    "INSERT INTO measurements (device_id, quantity_id, sensor, time, value) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    device_id,
                    quantities[m.quantity],
                    m.sensor,
                    up.received_at,
                    m.value,
                )

    asyncio.run(main())


# --- the orchestra -----------------------------------------------------------------------------


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(SERVER_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _scalar(url: str, sql: str) -> int:
    async def run() -> int:
        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval(sql))
        finally:
            await conn.close()

    return asyncio.run(run())


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (includes its start-up)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_s() -> float:
    """CPU seconds so far of every live PostgreSQL process (backends, WAL writer, checkpointer)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == "postgres":
                total += _cpu_s(int(proc.name))
        except OSError:  # ended while we looked
            continue
    return total


class Database:
    def __init__(self) -> None:
        self.name = f"meetnet_bench_{uuid.uuid4().hex[:8]}"
        self.url = urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{self.name}"))
        asyncio.run(_admin(f'CREATE DATABASE "{self.name}"'))
        asyncio.run(prepare(self.url))

    def drop(self) -> None:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def _spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args, env=env or os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip


def _wait_line(process: subprocess.Popen[str], prefix: str) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(prefix):
            return line
    raise RuntimeError(f"subscriber ended without {prefix!r}")


_INSERTED = "SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables WHERE relname = 'uplinks'"


def run_ingest(
    mode: str, batch: list[tuple[str, bytes]], rows: int, workdir: Path
) -> dict[str, float]:
    broker = Broker(workdir)
    db = Database()
    log = (workdir / f"ingest-{mode}.log").open("a")
    env = {
        **os.environ,
        "MEETNET_DATABASE_URL": db.url,
        "MEETNET_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "MEETNET_MQTT_CLIENT_ID": "bench-ingest",
        "MEETNET_METRICS_PORT": "0",
    }
    cmd = [sys.executable, "-m", "meetnet", "ingest"]
    try:
        if mode == "drain":  # make the session, stop, queue everything, start
            first = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
            _wait_log(workdir / f"ingest-{mode}.log", "connected to MQTT broker", 1)
            first.send_signal(signal.SIGTERM)
            first.wait()
            publish_all(broker.port, batch)
            cpu_before = (_postgres_cpu_s(), _cpu_s(broker.process.pid))
            ingest = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
            # The broker sends the session's queue as soon as ingest is connected.
            _wait_log(workdir / f"ingest-{mode}.log", "connected to MQTT broker", 2, poll_s=0.002)
            started = time.time()
            cpu_start = _cpu_s(ingest.pid)
            publisher = None
            if os.environ.get("BENCH_PROFILE"):  # py-spy's raw stacks of the steady drain
                spy = Path(sys.executable).parent / "py-spy"
                profile = os.environ["BENCH_PROFILE"]
                args = ["record", "-r", "250", "-f", "raw", "-d", "6", "--gil", "-o", profile]
                subprocess.Popen([str(spy), *args, "--pid", str(ingest.pid)])
        else:
            ingest = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
            _wait_log(workdir / f"ingest-{mode}.log", "connected to MQTT broker", 1)
            started = time.time()
            cpu_start = _cpu_s(ingest.pid)
            cpu_before = (_postgres_cpu_s(), _cpu_s(broker.process.pid))
            publisher = threading.Thread(target=publish_all, args=(broker.port, batch))
            publisher.start()
        peak = 0.0
        stored = 0
        counted = time.time()
        while stored < len(batch) and time.time() - started < 900:
            time.sleep(0.2)
            peak = max(peak, _rss_mb(ingest.pid))
            # Counting the rows scans the table, which on long runs took the database's CPU from
            # ingest; the statistics' insert counter is free, so count only when it says done.
            if _scalar(db.url, _INSERTED) >= len(batch) or time.time() - counted > 5:
                stored = _scalar(db.url, "SELECT count(*) FROM uplinks")
                counted = time.time()
        last_commit = (
            _scalar(
                db.url, "SELECT (extract(epoch FROM max(ingested_at)) * 1e6)::bigint FROM uplinks"
            )
            / 1e6
        )
        if publisher is not None:
            publisher.join()
        cpu_s = _cpu_s(ingest.pid) - cpu_start
        postgres_s = _postgres_cpu_s() - cpu_before[0]
        mosquitto_s = _cpu_s(broker.process.pid) - cpu_before[1]
        ingest.send_signal(signal.SIGTERM)
        ingest.wait()
        log.flush()
        stopped = [ln for ln in (workdir / f"ingest-{mode}.log").read_text().splitlines()
                   if "ingest stopped" in ln]  # fmt: skip
        if stopped and os.environ.get("BENCH_VERBOSE"):
            print("   ", stopped[-1].split("ingest stopped: ")[1])
        elapsed = last_commit - started
        distinct = _scalar(db.url, "SELECT count(DISTINCT idempotency_key) FROM uplinks")
        measured = _scalar(db.url, "SELECT count(*) FROM measurements")
        return {
            "elapsed": elapsed,
            "uplinks_s": distinct / elapsed,
            "rows_s": measured / elapsed,
            "rss_mb": peak,
            "cpu_us_per_uplink": cpu_s / len(batch) * 1e6,
            "postgres_us_per_uplink": postgres_s / len(batch) * 1e6,
            "mosquitto_us_per_uplink": mosquitto_s / len(batch) * 1e6,
            "lost": len(batch) - distinct,
            "duplicated": stored - distinct,
            "rows_missing": rows - measured,
        }
    finally:
        log.close()
        broker.stop()
        db.drop()


def _wait_log(
    path: Path, text: str, count: int, timeout_s: float = 30, poll_s: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count(text) >= count:
            return
        time.sleep(poll_s)
    raise RuntimeError(f"{text!r} not in {path}")


def run_counter(mode: str, batch: list[tuple[str, bytes]], workdir: Path) -> dict[str, float]:
    broker = Broker(workdir)
    me = [sys.executable, __file__, "--role", "counter", "--port", str(broker.port)]
    topic = "v3/+/devices/+/up"
    try:
        if mode == "drain":
            _spawn([*me, "--client-id", "bare", "--topic", topic, "--expect", "0"]).wait()
            publish_all(broker.port, batch)
            mosquitto_before = _cpu_s(broker.process.pid)
            counter = _spawn([*me, "--client-id", "bare", "--topic", topic,
                              "--expect", str(len(batch))])  # fmt: skip
            cpu_start = float(_wait_line(counter, "connected").split()[1])
            started = time.time()
        else:
            counter = _spawn([*me, "--client-id", "bare", "--topic", topic,
                              "--expect", str(len(batch))])  # fmt: skip
            cpu_start = float(_wait_line(counter, "connected").split()[1])
            started = time.time()
            mosquitto_before = _cpu_s(broker.process.pid)
            threading.Thread(target=publish_all, args=(broker.port, batch)).start()
        done = _wait_line(counter, "done").split()
        mosquitto_s = _cpu_s(broker.process.pid) - mosquitto_before
        counter.wait()
        elapsed = float(done[1]) - started
        return {
            "elapsed": elapsed,
            "uplinks_s": int(done[2]) / elapsed,
            "cpu_us_per_uplink": (float(done[3]) - cpu_start) / len(batch) * 1e6,
            "mosquitto_us_per_uplink": mosquitto_s / len(batch) * 1e6,
        }
    finally:
        broker.stop()


def run_naive(batch: list[tuple[str, bytes]], rows: int, workdir: Path) -> dict[str, float]:
    broker = Broker(workdir)
    db = Database()
    me = [sys.executable, __file__, "--role", "naive", "--port", str(broker.port)]
    try:
        naive = _spawn([*me, "--client-id", "naive", "--topic", "v3/+/devices/+/up",
                        "--url", db.url])  # fmt: skip
        _wait_line(naive, "connected")
        started = time.time()
        publish_all(broker.port, batch)
        measured = 0
        while measured < rows and time.time() - started < 600:
            time.sleep(0.2)
            measured = _scalar(db.url, "SELECT count(*) FROM measurements")
        elapsed = time.time() - started
        naive.terminate()
        naive.wait()
        return {"elapsed": elapsed, "uplinks_s": len(batch) * measured / rows / elapsed,
                "rows_s": measured / elapsed}  # fmt: skip
    finally:
        broker.stop()
        db.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uplinks", type=int, default=20_000)
    parser.add_argument("--naive-uplinks", type=int, default=3_000)
    parser.add_argument("--modes", default="drain,live")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--rounds", type=int, default=1, help="repeat, report medians")
    # With 1,000 devices a fold (once a second under load) merges many values of each series;
    # a city's fleet of tens of thousands, each sending every few minutes, merges almost none.
    parser.add_argument("--devices", type=int, default=1000, help="fleet size")
    parser.add_argument("--role", choices=["counter", "naive"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--client-id")
    parser.add_argument("--topic")
    parser.add_argument("--expect", type=int, default=0)
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.role == "counter":
        return role_counter(args.port, args.client_id, args.topic, args.expect)
    if args.role == "naive":
        return role_naive(args.port, args.client_id, args.topic, args.url)

    batch, rows = messages(args.uplinks, "bench", args.devices)
    size = sum(len(b) for _, b in batch) / len(batch)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.uplinks} uplinks of {size:.0f} B, "
          f"{rows / len(batch):.1f} measurements each")  # fmt: skip
    modes = args.modes.split(",")
    small, small_rows = messages(args.naive_uplinks, "bench", args.devices)
    rounds: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="meetnet-bench-") as tmp:
        for index in range(args.rounds):
            results: dict[str, dict[str, float]] = {}
            rounds.append(results)
            work = Path(tmp) / str(index)
            for mode in modes:
                # Every other round the baseline goes first, so a machine that speeds up or
                # slows down during the run favours neither side of the ratios.
                order = ["ingest", "bare"] if index % 2 == 0 else ["bare", "ingest"]
                for who in order:
                    if who == "ingest":
                        step(results, work, f"ingest-{mode}",
                             lambda w, m=mode: run_ingest(m, batch, rows, w))  # fmt: skip
                    elif not args.no_baselines:
                        step(results, work, f"bare-{mode}",
                             lambda w, m=mode: run_counter(m, batch, w))  # fmt: skip
            if not args.no_baselines:
                step(results, work, "naive", lambda w: run_naive(small, small_rows, w))
    print_table(rounds, modes)


def step(
    results: dict[str, dict[str, float]],
    work: Path,
    name: str,
    run: Callable[[Path], dict[str, float]],
) -> None:
    sub = work / name
    sub.mkdir(parents=True)
    results[name] = run(sub)
    figures = ", ".join(f"{k} {v:,.1f}" for k, v in results[name].items())
    print(f"  {name:12s} {figures}", flush=True)


def print_table(rounds: list[dict[str, dict[str, float]]], modes: list[str]) -> None:
    """Medians over the rounds; each ratio is the median of the rounds' own ratios, with their
    range when there were several rounds."""

    def ratio(values: list[float], fmt: str, unit: str = "") -> str:
        if not values:
            return "-"
        text = format(statistics.median(values), fmt) + unit
        if len(values) > 1:
            text += f" ({format(min(values), fmt)}{unit} to {format(max(values), fmt)}{unit})"
        return text

    print()
    print(f"{len(rounds)} round(s); medians, ratios' range in brackets")
    print("| mode | meetnet ingest uplinks/s | rows/s | bare paho msg/s | ingest/bare | "
          "ingest/naive | RSS MB | lost | duplicated |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in modes:
        ingest = [r[f"ingest-{mode}"] for r in rounds]
        bare = [r[f"bare-{mode}"]["uplinks_s"] for r in rounds if f"bare-{mode}" in r]
        naive = [r["naive"]["uplinks_s"] for r in rounds if "naive" in r]
        rates = [i["uplinks_s"] for i in ingest]
        cells = [
            mode,
            f"{statistics.median(rates):,.0f}",
            f"{statistics.median(i['rows_s'] for i in ingest):,.0f}",
            f"{statistics.median(bare):,.0f}" if bare else "-",
            ratio([i / b for i, b in zip(rates, bare, strict=False)], ".0%"),
            ratio([i / n for i, n in zip(rates, naive, strict=False)], ".1f", "x"),
            f"{max(i['rss_mb'] for i in ingest):.0f}",
            f"{sum(i['lost'] for i in ingest):.0f}",
            f"{sum(i['duplicated'] for i in ingest):.0f}",
        ]
        print("| " + " | ".join(cells) + " |")
    naive_rates = [r["naive"] for r in rounds if "naive" in r]
    if naive_rates:
        uplinks_s = statistics.median(n["uplinks_s"] for n in naive_rates)
        rows_s = statistics.median(n["rows_s"] for n in naive_rates)
        print(f"naive bridge: {uplinks_s:,.0f} uplinks/s ({rows_s:,.0f} rows/s)")
        # What even the subscriber that only counts reaches against the naive bridge: when the
        # publisher paces a mode, no subscriber gets further than this.
        ceilings = []
        for mode in modes:
            pairs = [(r[f"bare-{mode}"]["uplinks_s"], r["naive"]["uplinks_s"])
                     for r in rounds if f"bare-{mode}" in r and "naive" in r]  # fmt: skip
            if pairs:
                ceilings.append(f"{mode} {statistics.median(b / n for b, n in pairs):.1f}x")
        if ceilings:
            print("bare subscriber/naive bridge: " + ", ".join(ceilings))


if __name__ == "__main__":
    main()
