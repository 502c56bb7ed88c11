"""Two ccgate revisions against each other and the floor, in one run: is a change a gain?

    python bench/forwarder_ab.py --before c6d95fa [--requests 400] [--rounds 3]

The machine is shared, so figures from separate runs drift more than most changes move them. This
runs direct, the bare uvloop relay, `ccgate serve` from REVISION (a `git archive` of it in a
temporary directory) and `ccgate serve` from this tree side by side, each round in rotating order,
with forwarder_bench.py's scenarios and setup (usage log, sealed handle, live-feed subscriber,
each ccgate timed on its second start, the first having filled its price cache).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
import forwarder_bench as fb  # noqa: E402
from _timing import print_table  # noqa: E402


def checkout(revision: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix="ccgate-ab-"))
    archive = subprocess.run(["git", "-C", str(fb.REPO), "archive", revision], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(root, filter="data")
    return root


def start(name: str, repo: Path, upstream_port: int) -> tuple[fb.Target, subprocess.Popen[bytes]]:
    """forwarder_bench's ccgate (log, sealed handle, live feed; timed on its second start) from `repo`."""
    target, feed = fb.start_ccgate(Path(tempfile.mkdtemp(prefix="ccgate-ab-state-")), upstream_port, True, repo)
    target.name = name
    return target, feed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, metavar="REVISION")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    upstream, up_port = fb.start_upstream()
    relay = fb.start_relay(up_port)
    before, feed_before = start(f"ccgate {args.before}", checkout(args.before), up_port)
    after, feed_after = start("ccgate (this tree)", fb.REPO, up_port)
    direct = fb.Target("direct", f"http://127.0.0.1:{up_port}", fb.DIRECT_AUTH)
    n = args.requests
    scenarios: list[fb.Scenario] = [
        ("1 stream", fb.STREAM_BODY, n, 1),
        ("32 streams", fb.STREAM_BODY, n * 4, 32),
        ("8 x 500 KB bodies", fb.BIG_BODY, max(16, n // 2), 8),
    ]
    try:
        results = fb.run_rounds([direct, relay, before, after], scenarios, args.rounds, {})
        peaks = {t.name: fb.peak_rss_mib(t.proc.pid) for t in (relay, before, after) if t.proc}
    finally:
        for proc in (feed_before, feed_after, before.proc, after.proc, relay.proc):
            if proc is not None:
                proc.terminate()
                proc.wait(30)
        upstream.communicate("")
    rows = []
    for label, *_ in scenarios:
        d, r = fb.medians(results[(label, "direct")]), fb.medians(results[(label, "bare relay")])
        for target in (relay, before, after):
            g = fb.medians(results[(label, target.name)])
            rows.append(
                (
                    label if target is relay else "",
                    target.name,
                    f"{g['cpu_ms']:.3f}",
                    f"{g['cpu_ms'] / r['cpu_ms']:.2f}x",
                    f"{g['ttfb_p50'] - d['ttfb_p50']:+.2f}",
                    f"{g['ttfb_p50'] / d['ttfb_p50']:.2f}x",
                    f"{g['lat_p50'] / d['lat_p50']:.2f}x",
                    f"{g['lat_p99'] / d['lat_p99']:.2f}x",
                    f"{g['rps'] / d['rps']:.2f}x",
                )
            )
    print(f"forwarder A/B: {n} requests per 1-stream run, {args.rounds} rounds (medians), one run")
    headers = ("scenario", "path", "CPU ms/req", "vs relay", "added TTFB ms", "TTFB vs direct")
    print_table((*headers, "lat p50 vs direct", "lat p99 vs direct", "req/s vs direct"), rows)
    for target in (relay, before, after):
        print(f"{target.name}: peak RSS {peaks[target.name]:.1f} MiB, spawn to first forwarded {target.spawn_s:.3f} s")


if __name__ == "__main__":
    main()
