"""Quota records through the real daemon over UDP, against plain events in the same run.

    python bench/quota_throughput.py [--seconds 2] [--records-per-key 1000] [--rates 50000,100000,...]

One `tykevents run` process (the monitor on, its webhook pointed at a counting receiver in
another process) receives, at each offered rate, first plain events that match no handler
(the reference: decode + route), then the same number of quota records with an embedded
Tyk session (decode + the monitor's inline evaluation). In quota mode 64 keys at a time
climb from 0 to 100 % usage over `records-per-key` records each, so every key crosses the
levels 50, 80 and 90 once per step: 3 x keys TriggerExceeded webhooks per step, spread over
the step (0.3 % of the records with the default 1000 records per key, as with quota_max
1000 and one record per request). It reports, for each kind, the highest offered rate with
under 0.1 % loss and their ratio, the daemon's CPU time per record (from /proc, the robust
figure when other processes share the machine), and the webhooks received per step (which
must be 3 x keys). The sender is bench/loadgen.c in its quota mode, built here into a temporary directory.
Processes are pinned to cores when taskset exists; everything is on loopback, bounded in
time, and every process started here is ended by PID.

Until tykevents.services wires the monitor, the daemon runner below wires it itself (the
same calls: MonitorService.configure / attach, Pipeline.quota_sink = sink).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from _support import ROOT, CountingReceiver, build_loadgen, free_port, pin, send, settled, terminate  # noqa: E402

LOSS_LIMIT = 0.001

# The daemon, plus the monitor wiring if services.py does not do it (yet).
RUNNER = r"""
import asyncio, signal, sys, uvloop
from tykevents.daemon import Daemon

async def main(conf):
    d = Daemon(conf)
    await d.start()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, d.request_stop)
    await d._stop.wait()
    await d.stop()

uvloop.run(main(sys.argv[1]))
"""


class Daemon:
    def __init__(self, tmp: Path, hook_port: int) -> None:
        self.port = free_port()
        self.http = free_port(socket.SOCK_STREAM)
        apps = tmp / "apps"
        apps.mkdir()
        for i in range(4):  # the load generator's API ids, with a handler for an event never sent
            (apps / f"api-{i}.json").write_text(
                json.dumps(
                    {
                        "api_id": f"api-{i}",
                        "org_id": "o",
                        "name": f"api {i}",
                        "event_handlers": {
                            "events": {
                                "NeverSent": [
                                    {"handler_name": "eh_log_handler", "handler_meta": {"prefix": "x"}}
                                ]
                            }
                        },
                    }
                )
            )
        conf = tmp / "tyk.conf"
        conf.write_text(
            json.dumps(
                {
                    "app_path": str(apps),
                    "log_level": "warn",
                    "template_path": str(ROOT / "templates"),
                    "monitor": {
                        "enable_trigger_monitors": True,
                        "monitor_user_keys": True,
                        "monitor_org_keys": True,
                        "configuration": {
                            "method": "POST",
                            "target_path": f"http://127.0.0.1:{hook_port}/monitor",
                            "template_path": str(ROOT / "templates" / "monitor_template.json"),
                        },
                    },
                    "tykevents": {
                        "listen": {"udp": [f"127.0.0.1:{self.port}"]},
                        "metrics": f"127.0.0.1:{self.http}",
                        "max_record_bytes": 65536,
                    },
                }
            )
        )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.log = open(tmp / "daemon.log", "wb")
        self.proc = subprocess.Popen(
            pin(1) + [sys.executable, "-c", RUNNER, str(conf)], cwd=tmp, env=env, stderr=self.log
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self.records()
                break
            except OSError:
                time.sleep(0.1)
        else:
            self.close()
            sys.exit("quota_throughput: the daemon did not come up; see " + str(tmp / "daemon.log"))
        self.seen = self.records()

    def cpu(self) -> float:
        """CPU seconds the daemon process has used (user + system)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def records(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/health", timeout=5) as r:
            return int(json.load(r)["stats"]["records"])

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=5) as r:
            m = re.search(rf"^{name} (\S+)$", r.read().decode(), re.M)
        return float(m.group(1)) if m else float("nan")

    def received(self) -> int:
        """Records decoded since the last call, once the backlog has been read."""
        last = settled(self.records)
        got, self.seen = last - self.seen, last
        return got

    def close(self) -> None:
        terminate(self.proc)
        self.log.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0, help="duration of each step")
    ap.add_argument(
        "--records-per-key",
        type=int,
        default=1000,
        help="quota records per key per step (the key's quota_max is 1000: one record per request)",
    )
    ap.add_argument(
        "--rates",
        default="25000,50000,75000,100000,125000,150000,200000,250000,300000",
        help="offered record rates to step through",
    )
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    best = {"event": 0, "quota": 0}
    failed = {"event": False, "quota": False}
    cpu: dict[str, list[float]] = {"event": [], "quota": []}  # daemon CPU µs per record, lossless steps
    with tempfile.TemporaryDirectory() as tmp:
        loadgen = build_loadgen(out_dir=Path(tmp))
        hook = CountingReceiver(0)
        daemon = Daemon(Path(tmp), hook.port)
        try:
            renews = int(time.time()) + 3600
            head = f"{'offered/s':>10} {'kind':>6} {'sent':>9} {'received':>9} {'loss':>8} {'cpu µs':>8}"
            print(head + "  webhooks")
            for rate in rates:
                total = int(rate * args.seconds)
                # loadgen's quota mode runs keys 64 at a time: a multiple of 64 keys, 3 levels each.
                keys = max(64, total // args.records_per_key // 64 * 64)
                expected = 3 * keys
                for mode in ("event", "quota"):
                    if failed[mode]:
                        continue
                    hooks_before = hook.count()
                    renews += 10  # a new quota period per step: every level re-arms
                    cpu0 = daemon.cpu()
                    mode_args = ("quota", str(keys), str(renews)) if mode == "quota" else ("1",)
                    sent = send(loadgen, daemon.port, rate, total, *mode_args)
                    got = daemon.received()
                    if mode == "quota":
                        time.sleep(0.5)  # let the last webhooks land (their CPU is counted)
                    cpu_us = (daemon.cpu() - cpu0) / max(got, 1) * 1e6
                    loss = 1 - got / sent if sent else 1.0
                    hooks = f"{hook.count() - hooks_before} (expected {expected})" if mode == "quota" else ""
                    ok = loss < LOSS_LIMIT
                    print(
                        f"{rate:>10,} {mode:>6} {sent:>9,} {got:>9,} {loss:>8.3%} {cpu_us:>8.2f}  {hooks}"
                        f"{'' if ok else '  LOSS'}",
                        flush=True,
                    )
                    if ok:
                        best[mode] = rate
                        cpu[mode].append(cpu_us)
                    else:
                        failed[mode] = True
                if all(failed.values()):
                    break
            fired = daemon.metric("tykevents_monitor_fired_total")
        finally:
            daemon.close()
            hook.close()
    print(f"\nhighest offered rate with < {LOSS_LIMIT:.1%} loss, one record per datagram:")
    print(f"  plain events, no handler (reference): {best['event']:>9,} /s")
    print(f"  quota records with embedded session:  {best['quota']:>9,} /s")
    ratio = best["quota"] / best["event"] if best["event"] else float("nan")
    print(f"  ratio quota / reference:              {ratio:.2f}")
    med = {k: statistics.median(v) if v else float("nan") for k, v in cpu.items()}
    print("daemon CPU per record (median of the lossless steps; robust on a noisy machine):")
    print(
        f"  plain events: {med['event']:.2f} µs   quota records: {med['quota']:.2f} µs (webhooks included)   "
        f"ratio {med['quota'] / med['event']:.2f}"
    )
    print(f"  levels fired in total (metric):       {fired:,.0f}")


if __name__ == "__main__":
    main()
