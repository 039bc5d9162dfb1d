"""How fast are traces read and turned into the observed model, and in how much memory?

The workload: a million spans (by default) of a 7-service shop as OTLP JSON lines, written to
a temporary file the way a Collector's file exporter writes them: each service's spans in export
batches of 100, batches in the order they were sent, so the spans of one trace are spread over
several lines among other traces' spans. Traces have 10 spans on average (a gateway, a parallel
fan-out, a database behind two services, a retried call, an uninstrumented cache), 2,000 traces
per second of traffic.

The reference, run in the same process so that the ratio cancels machine noise: ``json.loads`` of
every line of the same file, which is the least any reader written in Python has to do. chaoslab
then decodes the same lines (with its own window over the file), normalises every span, groups
spans into traces in a 60 s window, assembles each trace, and derives the model.

Memory is the peak resident size of a fresh process that reads and derives: run at two sizes, the
same peak means memory is set by the trace window, not by the length of the file.

Measured on the project's 2-core machine on 2026-12-06, busy (load 3.5 to 5 from other work): a million
spans took 46.5 s, 63.7 s and 70.3 s in three runs, 15x json.loads of the same lines (which ran at 210,000
to 340,000 spans/s); the steady state, once the window is full, was 13,000 to 26,000 spans/s. Peak
resident memory: 160 MB at 300,000 spans, 172 MB at a million (the window holds 10 s of traffic, about
200,000 spans here). The goal (a million spans under a minute) was met in one run of three.

On 2026-12-07, at a load average of 8 to 18 on 2 cores (other helpers' tests), one run took 138.7 s for
300,000 spans and 149.4 s for a million, 9.7x and 25.7x json.loads's wall time: the load swung between the
phases, so the ratio is now taken of CPU seconds, with the reference run before and after. Peak memory
161 MB and 172 MB (1.07x for 3.3x the spans). Not yet measured on a quiet machine with the CPU ratio.

On 2026-12-07 at 10:33-10:51 (load average 6 to 12), the code before and after that day's tuning (named
tuples built with tuple.__new__, identity hashes for the trace enums, OTLP's time check inline), alternating:
before, a million spans took 137.8 s and 71.8 s of wall time, 48.9 s and 43.1 s of CPU, 16.4x and 14.8x
json.loads's CPU time; after, 70.1 s and 157.1 s, 41.3 s and 48.5 s, 15.4x and 11.4x. The load swamps a
few percent; the instruction counts do not. Cachegrind (deterministic), 30,000 spans: OTLP 6.70 G
instructions before, 6.50 G after; Jaeger 7.59 G and 7.41 G; Zipkin 8.15 G and 7.98 G (the start-up alone:
0.75 G). ``generate(..., fmt="jaeger")`` or ``"zipkin"`` writes the same traffic in those formats
(tests/traces/test_traces_golden.py pins what is derived from all three).

On 2026-12-07 at 13:50-14:18 (load average 6 to 18), main and that afternoon's code (the concurrency
sweep's heap replaced by sorted buckets, enum members as globals in the loops per span, one walk of a trace's
attempts, the OTLP attributes read in one pass, newlines counted with find, the cyclic collector paused),
alternating in two runs of two rounds on the same files: a million spans took 30.5 to 36.1 s of CPU before,
15.2x and 16.2x, then 14.8x and 15.1x json.loads's; after, 12.2x and 10.7x in the first run (before the
buckets), 10.5x and 10.5x in the second (21.4 and 22.0 s of CPU; 47.3 s of wall time at a load of 6 to 9).
100,000 spans: 11.5x to 12.1x before, 9.0x to 9.7x after. Peak memory 169 MB at a million, 90 MB at
100,000 (which all fit in one window). Cachegrind, 30,000 spans (no window closes; the buckets are not
exercised): OTLP 6.50 G instructions before, 5.65 G after; Jaeger 7.41 G and 6.71 G; Zipkin 7.99 G and 7.39 G.
At 14:19-14:25 the machine was nearly quiet (load 0.5 to 7): this script, main and this code alternating,
a million spans took 25.8 s and 46.0 s of wall time, 25.8 s and 26.9 s of CPU, 14.6x and 14.7x before;
18.5 s, 25.7 s and 25.8 s of wall time, 17.9 s, 19.1 s and 18.7 s of CPU, 9.8x, 9.8x and 9.9x after.

    python benchmarks/trace_import.py [--spans 1000000] [--small 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos.traces.observe import observe_files  # noqa: E402

NS = 1_000_000_000
QUIET_REFERENCE = 340_000  # spans/s of json.loads of these lines on a quiet day of this machine (2026-12-06)
GOAL_RATIO = round(QUIET_REFERENCE / 25_000, 1)  # a million spans in 40 s on such a day
BATCH = 100
SERVICES = ("gateway", "frontend", "catalog", "recommend", "checkout", "payment", "db")


class Writer:
    """Per-service export batches, written as one ExportTraceServiceRequest line each."""

    def __init__(self, out) -> None:  # type: ignore[no-untyped-def]
        self.out = out
        self.pending: dict[str, list[dict]] = {s: [] for s in SERVICES}
        self.spans = 0

    def span(self, service: str, trace: str, sid: str, parent: str | None, name: str, kind: int, start: float,
             end: float, error: bool = False, **attrs: str) -> None:
        span = {"traceId": trace, "spanId": sid, "name": name, "kind": kind,
                "startTimeUnixNano": str(int(start * NS)), "endTimeUnixNano": str(int(end * NS)),
                "attributes": [{"key": k.replace("_", "."), "value": {"stringValue": v}} for k, v in attrs.items()],
                "status": {"code": 2} if error else {}}
        if parent:
            span["parentSpanId"] = parent
        self.add(service, span)

    def add(self, service: str, span: dict) -> None:
        """One span into its service's batch, the batch written once it is full."""
        batch = self.pending[service]
        batch.append(span)
        self.spans += 1
        if len(batch) == BATCH:
            self.flush(service)

    def flush(self, service: str) -> None:
        batch = self.pending[service]
        if not batch:
            return
        resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}},
                                   {"key": "service.instance.id", "value": {"stringValue": f"{service}-1"}}]}
        self.out.write(json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [
            {"scope": {"name": "bench"}, "spans": batch}]}]}, separators=(",", ":")) + "\n")
        self.pending[service] = []

    def close(self) -> None:
        for service in SERVICES:
            self.flush(service)


class ZipkinWriter(Writer):
    """Zipkin v2: one array of spans, each service's spans in report batches of 100 as a reporter sends them."""

    def __init__(self, out) -> None:  # type: ignore[no-untyped-def]
        super().__init__(out)
        self.first = True
        out.write("[")

    def span(self, service: str, trace: str, sid: str, parent: str | None, name: str, kind: int, start: float,
             end: float, error: bool = False, **attrs: str) -> None:
        begin = int(start * 1_000_000)
        tags = {k.replace("_", "."): v for k, v in attrs.items()}
        if error:
            tags["error"] = "true"
        local = {"serviceName": service, "ipv4": f"10.0.0.{SERVICES.index(service) + 1}"}
        span: dict[str, object] = {"traceId": trace, "id": sid, "name": name,
                                   "kind": "SERVER" if kind == 2 else "CLIENT", "timestamp": begin,
                                   "duration": int(end * 1_000_000) - begin, "localEndpoint": local, "tags": tags}
        if parent:
            span["parentId"] = parent
        self.add(service, span)

    def flush(self, service: str) -> None:
        for span in self.pending[service]:
            self.out.write(("" if self.first else ",\n") + json.dumps(span, separators=(",", ":")))
            self.first = False
        self.pending[service] = []

    def close(self) -> None:
        super().close()
        self.out.write("]\n")


class JaegerWriter(Writer):
    """Jaeger: the query API's answer, ``{"data": [trace, ...]}``, each trace whole with its processes."""

    def __init__(self, out) -> None:  # type: ignore[no-untyped-def]
        super().__init__(out)
        self.trace: list[dict] = []
        self.processes: dict[str, str] = {}
        self.first = True
        out.write('{"data": [')

    def span(self, service: str, trace: str, sid: str, parent: str | None, name: str, kind: int, start: float,
             end: float, error: bool = False, **attrs: str) -> None:
        if self.trace and self.trace[0]["traceID"] != trace:
            self.flush_trace()
        begin = int(start * 1_000_000)
        tags = [{"key": "span.kind", "type": "string", "value": "server" if kind == 2 else "client"}]
        tags += [{"key": k.replace("_", "."), "type": "string", "value": v} for k, v in attrs.items()]
        if error:
            tags.append({"key": "error", "type": "bool", "value": True})
        pid = self.processes.setdefault(service, f"p{len(self.processes) + 1}")
        references = [{"refType": "CHILD_OF", "traceID": trace, "spanID": parent}] if parent else []
        self.trace.append({"traceID": trace, "spanID": sid, "operationName": name, "references": references,
                           "startTime": begin, "duration": int(end * 1_000_000) - begin, "tags": tags, "logs": [],
                           "processID": pid})
        self.spans += 1

    def flush_trace(self) -> None:
        processes = {pid: {"serviceName": service, "tags": [{"key": "hostname", "type": "string", "value": service}]}
                     for service, pid in self.processes.items()}
        record = {"traceID": self.trace[0]["traceID"], "spans": self.trace, "processes": processes}
        self.out.write(("" if self.first else ",\n") + json.dumps(record, separators=(",", ":")))
        self.first = False
        self.trace, self.processes = [], {}

    def close(self) -> None:
        if self.trace:
            self.flush_trace()
        self.out.write("]}\n")


WRITERS = {"otlp": Writer, "zipkin": ZipkinWriter, "jaeger": JaegerWriter}


def generate(path: Path, spans: int, seed: int = 1, fmt: str = "otlp") -> int:
    rng = random.Random(seed)

    def sid() -> str:
        return f"{rng.getrandbits(64) or 1:016x}"

    t = 1_800_000_000.0
    with path.open("w") as out:
        w = WRITERS[fmt](out)
        while w.spans < spans:
            t += rng.expovariate(2000.0)
            trace = f"{rng.getrandbits(128) or 1:032x}"
            root = sid()
            own = rng.lognormvariate(-6.2, 0.5)
            now = t + own / 2
            if rng.random() < 0.7:  # browse: frontend, then catalog and recommend in parallel, each with db
                c = sid()
                s = sid()
                fan_start = now + 0.001
                ends = []
                for callee, p in (("catalog", 1.0), ("recommend", 0.6)):
                    if rng.random() >= p:
                        continue
                    cc, cs = sid(), sid()
                    work = rng.expovariate(1 / 0.004)
                    d0 = fan_start + 0.0002 + work
                    dc, ds = sid(), sid()
                    q = rng.lognormvariate(-6.5, 0.6)
                    w.span(callee, trace, dc, cs, "SELECT", 3, d0, d0 + q + 0.0004, server_address="db")
                    w.span("db", trace, ds, dc, "SELECT", 2, d0 + 0.0002, d0 + 0.0002 + q)
                    end = d0 + q + 0.0004
                    w.span(callee, trace, cs, cc, f"GET /{callee}", 2, fan_start + 0.0002, end, http_route=f"/{callee}",
                           http_request_method="GET")
                    w.span("frontend", trace, cc, s, "GET", 3, fan_start, end + 0.0002, server_address=callee)
                    ends.append(end + 0.0002)
                done = max(ends, default=fan_start) + 0.0005
                w.span("frontend", trace, sid(), s, "GET", 3, done, done + 0.0003, server_address="cache",
                       db_system="redis")
                w.span("frontend", trace, s, c, "GET /page", 2, now + 0.0002, done + 0.0004, http_route="/page",
                       http_request_method="GET")
                w.span("gateway", trace, c, root, "GET", 3, now, done + 0.0006, server_address="frontend")
                now = done + 0.0006
            else:  # buy: checkout, payment retried after a timeout
                c, s = sid(), sid()
                start = now + 0.0002 + rng.lognormvariate(-5.5, 0.4)
                attempt_start = start
                for _ in range(3):
                    pc, ps = sid(), sid()
                    hang = rng.random() < 0.1
                    work = 0.2 if hang else rng.lognormvariate(-4.8, 0.5)
                    w.span("payment", trace, ps, pc, "POST /card", 2, attempt_start + 0.0002,
                           attempt_start + 0.0002 + work, http_route="/card", http_request_method="POST")
                    end = attempt_start + min(work + 0.0004, 0.05)
                    w.span("checkout", trace, pc, s, "POST", 3, attempt_start, end, error=work + 0.0004 > 0.05,
                           server_address="payment")
                    attempt_start = end + 0.01
                    if work + 0.0004 <= 0.05:
                        break
                w.span("checkout", trace, s, c, "POST /checkout", 2, now + 0.0002, end + 0.001,
                       http_route="/checkout", http_request_method="POST")
                w.span("gateway", trace, c, root, "POST", 3, now, end + 0.0012, server_address="checkout")
                now = end + 0.0012
            w.span("gateway", trace, root, None, "GET /", 2, t, now + own / 2, http_route="/",
                   http_request_method="GET")
        w.close()
    return w.spans


def reference(path: Path) -> tuple[float, float, int]:
    """json.loads of every line: (wall seconds, CPU seconds, spans)."""
    start, cpu = time.perf_counter(), time.process_time()
    spans = 0
    with path.open() as f:
        for line in f:
            for rs in json.loads(line)["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    spans += len(ss["spans"])
    return time.perf_counter() - start, time.process_time() - cpu, spans


def measure(path: Path) -> dict:
    """Read and derive in this process; report time and peak memory (run in a fresh process for the peak).

    The reference runs before and after, and the ratio is of CPU seconds: on a machine shared with other
    work, wall time swings with their load between the two phases (a ratio of 9.7x and 25.7x in one run
    of this script on 2026-12-07, at a load average of 8 to 18 on 2 cores)."""
    ref_before, cpu_before, spans = reference(path)
    start, cpu = time.perf_counter(), time.process_time()
    model = observe_files([path])
    took, took_cpu = time.perf_counter() - start, time.process_time() - cpu
    ref_after, cpu_after, _ = reference(path)
    assert model.spans_read == spans
    return {"spans": spans, "seconds": took, "cpu_seconds": took_cpu,
            "reference_seconds": (ref_before + ref_after) / 2,
            "reference_cpu_seconds": (cpu_before + cpu_after) / 2, "traces": model.traces,
            "traces_used": model.traces_used, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="a second, smaller run for the memory comparison")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal: measure one file, print JSON
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for n in (args.small, args.spans):
            path = Path(tmp) / f"spans-{n}.jsonl"
            t0 = time.perf_counter()
            written = generate(path, n)
            print(f"wrote {written:,} spans ({path.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t0:.1f} s",
                  flush=True)
            out = subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True,
                                 capture_output=True, text=True)
            results.append(json.loads(out.stdout))
            path.unlink()
    print(f"{'spans':>10} {'traces':>8} {'seconds':>8} {'spans/s':>10} {'json.loads spans/s':>19} {'CPU s':>7} "
          f"{'CPU ratio':>10} {'peak RSS':>9}")
    for r in results:
        rate, ref_rate = r["spans"] / r["seconds"], r["spans"] / r["reference_seconds"]
        print(f"{r['spans']:>10,} {r['traces']:>8,} {r['seconds']:>8.1f} {rate:>10,.0f} {ref_rate:>19,.0f} "
              f"{r['cpu_seconds']:>7.1f} {r['cpu_seconds'] / r['reference_cpu_seconds']:>9.1f}x "
              f"{r['peak_rss_mb']:>7,.0f} MB")
    big = results[-1]
    print(f"goal: a million spans in under 60 s; {big['spans']:,} took {big['seconds']:.1f} s "
          f"({'met' if big['seconds'] * 1_000_000 / big['spans'] < 60 else 'NOT met'} on this machine today)")
    # Machine speed varies 3x from day to day: the goal that holds on any day is the ratio to json.loads
    # of the same lines, measured in the same process.
    ratio = big["cpu_seconds"] / big["reference_cpu_seconds"]
    print(f"goal: at most {GOAL_RATIO:g}x json.loads's CPU time (25,000 spans/s where json.loads reads "
          f"{QUIET_REFERENCE:,} spans/s, as on a quiet day); measured {ratio:.1f}x "
          f"({'met' if ratio <= GOAL_RATIO else 'NOT met'})")
    small = results[0]
    growth = big["peak_rss_mb"] / small["peak_rss_mb"]
    print(f"memory: peak {small['peak_rss_mb']:,.0f} MB at {small['spans']:,} spans, {big['peak_rss_mb']:,.0f} MB at "
          f"{big['spans']:,} ({growth:.2f}x for {big['spans'] / small['spans']:.0f}x the spans: set by the window "
          f"when the bigger file outlasts it)")


if __name__ == "__main__":
    main()
