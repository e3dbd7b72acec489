#!/usr/bin/env python3
"""webhook-guard soak: a long mixed run through one Envoy, watching memory and counters.

`make soak` runs this with the project's .venv Python. SOAK_REQUESTS (default 1,000,000)
requests, all to 127.0.0.1, go through the freshly built plugin in the demo's Envoy setup
(the e2e harness, tests/e2e/harness/, builds and starts it, `--concurrency 2`) to an upstream Envoy that
reads each body and answers 200. The mix, in SOAK_ROUNDS rounds (default 10) so every
kind is sent early and late:

  h2_valid      HTTP/2, GitHub-signed 1 KiB body                    -> 200, forwarded
  h1_valid      HTTP/1.1 keep-alive, the same                       -> 200, forwarded
  h2_forged     HTTP/2, a wrong signature                           -> 401 signature_mismatch
  h2_oversized  HTTP/2, 16 KiB declared over max_body_bytes (8 KiB) -> 413 payload_too_large
  h2_headers    HTTP/2, secret header missing: refused before the body -> 401 header_missing
  chunked       HTTP/1.1 chunked bodies on keep-alive connections, valid and forged
  h2_trailers   HTTP/2 bodies ending in trailers, valid and forged

h2load (bench/setup.sh installs it) sends the first five kinds with a fixed count each;
two Python threads send the chunked and trailer kinds at the same time (the e2e
harness's HTTP/1.1 reader and the `h2` library, on persistent connections).

Checked at the end, and the run fails (exit 1) otherwise:
  * every answer had the status its kind expects, no request errored;
  * allowed + denied counters equal the requests sent, kind by kind, and the upstream
    received exactly the allowed ones;
  * the Wasm VM was never restarted or replaced (Envoy's wasm runtime stats, no plugin
    panic in the log) and Envoy is still running;
  * memory is flat: Envoy's RSS and its allocator's `allocated` (admin /memory) at the
    end are within SOAK_MEM_TOLERANCE_MB (default 16) of the sample after the first round.

Results: a summary on stdout, raw samples in .work/soak/results.json, and (for a passing
run of the default size, or with SOAK_WRITE=1) the "Soak" section of BENCHMARKS.md, kept in
bench/SOAK.md so that `make bench`, which rewrites BENCHMARKS.md, carries it over.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import harness  # noqa: E402  (the e2e harness: Envoy configs, processes, raw HTTP clients)
from harness.http1 import _connect as connect  # noqa: E402
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_run", REPO / "bench" / "run.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_run"] = bench
_spec.loader.exec_module(bench)  # for parse_h2load and the upstream's buffer filter

# EDITION=native soaks the native module (make native) instead of the Wasm plugin: the
# same requests and checks; its report goes to bench/SOAK-native.md and its own section.
EDITION = os.environ.get("EDITION", "wasm")
harness.set_edition(EDITION)
NATIVE = harness.is_native()
WORK = Path(os.environ.get("SOAK_WORK", REPO / ".work" / ("soak-native" if NATIVE else "soak")))
SOAK_MD = REPO / "bench" / ("SOAK-native.md" if NATIVE else "SOAK.md")
SECTION = "## Soak, native edition" if NATIVE else "## Soak"
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
REQUESTS = int(os.environ.get("SOAK_REQUESTS", 1_000_000))
ROUNDS = max(1, int(os.environ.get("SOAK_ROUNDS", 10)))
MEM_TOLERANCE = int(os.environ.get("SOAK_MEM_TOLERANCE_MB", 16)) * 1024 * 1024
CONNECTIONS = int(os.environ.get("SOAK_CONNECTIONS", 4))
STREAMS = int(os.environ.get("SOAK_STREAMS", 8))
# A ceiling for the whole run, so it can never hang: generous for a loaded 2-core machine.
DEADLINE_S = float(os.environ.get("SOAK_TIMEOUT", max(900.0, REQUESTS / 200)))

KiB = 1024
MiB = 1024 * 1024
SECRET = "soak-github-secret"
TOKEN = "soak-header-token"
MAX_BODY = 8 * KiB
BODY = json.dumps({"action": "opened", "pad": "x" * 1000}).encode()[:KiB]
BIG = b"y" * (16 * KiB)

POLICY = {
    "api": "v1",
    "max_body_bytes": MAX_BODY,
    "unmatched": "deny",
    "routes": [
        {"name": "github", "match": {"path_prefix": "/hooks/github"},
         "checks": {"signature": {"scheme": "github", "secrets": [{"id": "current", "env": "SOAK_SECRET"}]}}},
        {"name": "token", "match": {"path_prefix": "/hooks/token"},
         "checks": {"headers": [{"name": "x-soak-token", "secrets": [{"env": "SOAK_TOKEN"}]}],
                    "signature": {"scheme": "github", "secrets": [{"env": "SOAK_SECRET"}]}}},
    ],
}
ENV = {"SOAK_SECRET": SECRET, "SOAK_TOKEN": TOKEN}

# Shares of the run, per kind (sum 1).
MIX = {"h2_valid": 0.38, "h1_valid": 0.10, "h2_forged": 0.20, "h2_oversized": 0.05, "h2_headers": 0.17,
       "chunked": 0.05, "h2_trailers": 0.05}


def github_sig(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


FORGED = "sha256=" + "0" * 64


def say(msg: str) -> None:
    print(f"soak: {msg}", flush=True)


class Failed(Exception):
    pass


# --------------------------------------------------------------------------------------
# Envoys


def upstream_config() -> dict:
    """An Envoy that reads every request body (buffer filter) and answers 200."""
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "soak_upstream",
        "codec_type": "AUTO",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "{}"}}}]}]},
        "http_filters": [bench.buffer_filter(), bench.ROUTER],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": [{
            "name": "upstream",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}],
        }]},
    }


def stats_json(envoy: harness.Envoy, pattern: str) -> dict[str, int]:
    status, body = harness._http("GET", envoy.admin + "/stats?format=json&filter=" + pattern)
    if status != 200:
        raise Failed(f"admin /stats answered {status}")
    return {s["name"]: s["value"] for s in json.loads(body).get("stats", [])
            if "name" in s and isinstance(s.get("value"), int)}


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memory(envoy: harness.Envoy) -> dict:
    status, body = harness._http("GET", envoy.admin + "/memory")
    mem = json.loads(body) if status == 200 else {}
    return {"t": time.monotonic(), "rss": rss_bytes(envoy.proc.pid),
            "allocated": int(mem.get("allocated", 0)), "heap_size": int(mem.get("heap_size", 0))}


# --------------------------------------------------------------------------------------
# Load


H2LOAD_KINDS = {
    # kind: (path, headers, body, expected status class)
    "h2_valid": ("/hooks/github/push", [("x-hub-signature-256", github_sig(BODY))], BODY, "2xx"),
    "h1_valid": ("/hooks/github/push", [("x-hub-signature-256", github_sig(BODY))], BODY, "2xx"),
    "h2_forged": ("/hooks/github/push", [("x-hub-signature-256", FORGED)], BODY, "4xx"),
    "h2_oversized": ("/hooks/github/push", [("x-hub-signature-256", github_sig(BIG))], BIG, "4xx"),
    "h2_headers": ("/hooks/token/push", [("x-hub-signature-256", github_sig(BODY))], BODY, "4xx"),
}


def run_h2load(kind: str, port: int, count: int, files: dict[str, Path]) -> None:
    path, headers, body, want = H2LOAD_KINDS[kind]
    cmd = ["h2load", "-d", str(files[kind]), "-n", str(count), "-c", str(CONNECTIONS), "-t", "1"]
    if kind.startswith("h1_"):
        cmd += ["--h1"]
    else:
        cmd += ["-m", str(STREAMS)]
    for k, v in headers:
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60 + count / 100)
    except subprocess.TimeoutExpired:
        raise Failed(f"h2load {kind} did not finish")
    res = bench.parse_h2load(p.stdout + p.stderr)
    got = res.codes.get(want, 0)
    if res.done != count or got != count or res.errors:
        raise Failed(f"{kind}: sent {count}, done {res.done}, {want} {got}, errors {res.errors}: {res.codes}")


class Sender(threading.Thread):
    """Sends `count` requests of a kind the load generators cannot send (chunked HTTP/1.1,
    HTTP/2 with trailers), alternating valid and forged, on persistent connections."""

    def __init__(self, kind: str, port: int, count: int):
        super().__init__(daemon=True)
        self.kind, self.port, self.count = kind, port, count
        self.valid = self.forged = 0
        self.error: str | None = None

    def run(self) -> None:
        try:
            (self.http1_chunked if self.kind == "chunked" else self.http2_trailers)()
        except Exception as e:  # reported by the main thread
            self.error = f"{self.kind}: {type(e).__name__}: {e}"

    def expect(self, i: int, status: int) -> None:
        want = 200 if i % 2 == 0 else 401
        if status != want:
            raise Failed(f"request {i}: status {status}, expected {want}")
        if want == 200:
            self.valid += 1
        else:
            self.forged += 1

    def http1_chunked(self) -> None:
        sock = None
        half = len(BODY) // 2
        for i in range(self.count):
            sig = github_sig(BODY) if i % 2 == 0 else FORGED
            head = (f"POST /hooks/github/chunked HTTP/1.1\r\nHost: example.test\r\n"
                    f"X-Hub-Signature-256: {sig}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
            chunks = b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in (BODY[:half], BODY[half:])) + b"0\r\n\r\n"
            if sock is None:
                sock = connect(self.port, harness.REQUEST_TIMEOUT)
            sock.sendall(head + chunks)
            resp = harness.read_http1_response(sock, "POST")
            self.expect(i, resp.status)
            if (resp.header("connection") or "").lower() == "close":
                sock.close()
                sock = None
        if sock is not None:
            sock.close()

    def http2_trailers(self) -> None:
        conn = sock = None
        for i in range(self.count):
            if conn is None or i % 1000 == 0:
                if sock is not None:
                    sock.close()
                sock = connect(self.port, harness.REQUEST_TIMEOUT)
                conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
                conn.initiate_connection()
                sock.sendall(conn.data_to_send())
            sig = github_sig(BODY) if i % 2 == 0 else FORGED
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":authority", "example.test"),
                                    (":path", "/hooks/github/trailers"), ("x-hub-signature-256", sig)])
            conn.send_data(sid, BODY)
            conn.send_headers(sid, [("x-checksum", "abc123")], end_stream=True)
            sock.sendall(conn.data_to_send())
            status, done = 0, False
            while not done:
                data = sock.recv(65536)
                if not data:
                    raise Failed("connection closed")
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                        status = int(dict(ev.headers)[b":status"])
                    elif isinstance(ev, h2.events.DataReceived):
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) and ev.stream_id == sid:
                        done = True
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        raise Failed("connection terminated")
                out = conn.data_to_send()
                if out:
                    sock.sendall(out)
            self.expect(i, status)
        if sock is not None:
            sock.close()


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# --------------------------------------------------------------------------------------
# Report


def report(r: dict) -> str:
    mem = r["memory"]
    rows = "\n".join(
        f"| {name} | {mem[key]['rss'] / MiB:.1f} MiB | {mem[key]['allocated'] / MiB:.1f} MiB | "
        f"{mem[key]['heap_size'] / MiB:.1f} MiB |"
        for name, key in (("start", "start"), ("after round 1", "after_round_1"), ("middle", "middle"), ("end", "end")))
    kinds = ", ".join(f"{k} {v:,}" for k, v in r["counts"].items())
    denied = ", ".join(f"`{k.split('webhook_guard.')[1]}` {v:,}" for k, v in sorted(r["denied"].items()))
    v8 = {k: v for k, v in r["wasm_after"].items() if "runtime" in k or "vm_reload" in k or "vm_count" in k}
    checks = "\n".join(f"- {'pass' if ok else 'FAIL'}: {name}" for name, ok in r["checks"].items())
    return f"""{SECTION}

`make soak` (`bench/soak.py`): {r['requests']:,} mixed requests through one Envoy
(`--concurrency 2`, the demo's HttpConnectionManager settings) running the plugin, to an
upstream Envoy that reads each body. Latest run: {r['date']}, plugin at {r['commit']},
{r['nproc']} CPUs, load average {r['loadavg_start']} at the start and {r['loadavg_end']} at the end
(a shared machine). {r['duration_s']:.0f} s, {r['rps']:.0f} requests/s.

Sent, by kind: {kinds} (chunked and trailers alternate valid and forged).

| memory | Envoy RSS | allocated (admin `/memory`) | heap size |
|---|---|---|---|
{rows}

From the sample after round 1 to the end ({r['requests'] - r['requests'] // ROUNDS:,} requests): RSS
{(mem['end']['rss'] - mem['after_round_1']['rss']) / MiB:+.1f} MiB, allocated
{(mem['end']['allocated'] - mem['after_round_1']['allocated']) / MiB:+.1f} MiB (the check allows
{MEM_TOLERANCE / MiB:.0f} MiB); {len(r['samples'])} samples in all (every round and every 5 s), in
`.work/soak/results.json`.

Counters: `allowed` {r['allowed']:,} (valid requests sent: {r['sent_valid']:,}); denied
{sum(r['denied'].values()):,}: {denied}; allowed + denied = {r['allowed'] + sum(r['denied'].values()):,} of
{r['requests']:,} sent. The upstream received {r['upstream_2xx']:,} requests. Wasm stats at the end:
{', '.join(f'`{k}` {v}' for k, v in sorted(v8.items()))} (the same as at the start).

{checks}
"""


def write_report(r: dict) -> None:
    text = report(r)
    SOAK_MD.write_text(text)
    if BENCHMARKS_MD.exists():
        old = BENCHMARKS_MD.read_text()
        start = old.find(f"\n{SECTION}\n")
        if start >= 0:
            end = old.find("\n## ", start + 1)
            old = old[:start] + (old[end:] if end >= 0 else "\n")
        BENCHMARKS_MD.write_text(old.rstrip("\n") + "\n\n" + text)
    say(f"wrote {SOAK_MD} and the Soak section of {BENCHMARKS_MD}")


def machine() -> dict:
    commit = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h"], capture_output=True,
                            text=True).stdout.strip() or "?"
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
            "nproc": os.cpu_count(), "loadavg": " ".join(open("/proc/loadavg").read().split()[:3])}


# --------------------------------------------------------------------------------------


def wasm_stats(envoy: harness.Envoy) -> dict[str, int]:
    return stats_json(envoy, r"^wasm\.")


def main() -> int:
    try:
        harness.require_wasm()
    except FileNotFoundError as e:
        print(f"soak: {e}", file=sys.stderr)
        return 1
    WORK.mkdir(parents=True, exist_ok=True)
    counts = {k: int(REQUESTS * share) for k, share in MIX.items()}
    counts["h2_valid"] += REQUESTS - sum(counts.values())
    files = {}
    for kind, (_, _, body, _) in H2LOAD_KINDS.items():
        files[kind] = WORK / f"{kind}.body"
        files[kind].write_bytes(body)

    upstream = harness.Envoy("soak-upstream", upstream_config(), WORK / "upstream", concurrency=1,
                             log_level="warning", wasm_log_level="error").wait_ready()
    cfg = harness.build_config(POLICY, upstream.port, ENV)
    # One warn line per refusal is the plugin's contract, but a million of them would
    # only fill the disk here: the soak keeps errors (a panic is logged at error/critical).
    envoy = harness.Envoy("soak", cfg, WORK / "envoy", concurrency=2, log_level="warning",
                          wasm_log_level="error", secrets=[SECRET, TOKEN]).wait_ready()
    say(f"{REQUESTS} requests in {ROUNDS} rounds to 127.0.0.1:{envoy.port} (Envoy --concurrency 2, pid "
        f"{envoy.proc.pid}); upstream 127.0.0.1:{upstream.port}")
    samples: list[dict] = []
    stop = threading.Event()

    def sampler() -> None:
        while not stop.wait(5.0):
            try:
                samples.append(memory(envoy) | {"round": None})
            except Exception:
                pass

    info = machine()
    result: dict = {"requests": REQUESTS, "counts": counts, "date": info["date"], "commit": info["commit"],
                    "nproc": info["nproc"], "loadavg_start": info["loadavg"]}
    ok = True
    try:
        wasm_before = wasm_stats(envoy)
        start_mem = memory(envoy) | {"round": 0}
        samples.append(start_mem)
        threading.Thread(target=sampler, daemon=True).start()
        started = time.monotonic()
        per_round = {k: split(n, ROUNDS) for k, n in counts.items()}
        senders: list[Sender] = []
        for r in range(ROUNDS):
            if time.monotonic() - started > DEADLINE_S:
                raise Failed(f"over the {DEADLINE_S:.0f}s deadline")
            round_senders = [Sender(k, envoy.port, per_round[k][r]) for k in ("chunked", "h2_trailers")]
            for s in round_senders:
                s.start()
            for kind in H2LOAD_KINDS:
                if per_round[kind][r]:
                    run_h2load(kind, envoy.port, per_round[kind][r], files)
            for s in round_senders:
                s.join(max(1.0, DEADLINE_S - (time.monotonic() - started)))
                if s.is_alive():
                    raise Failed(f"{s.kind} sender did not finish")
                if s.error:
                    raise Failed(s.error)
            senders += round_senders
            if envoy.proc.poll() is not None:
                raise Failed(f"envoy exited with {envoy.proc.returncode}")
            samples.append(memory(envoy) | {"round": r + 1})
            done = sum(sum(v[: r + 1]) for v in per_round.values())
            m = samples[-1]
            say(f"round {r + 1}/{ROUNDS}: {done} sent, {done / (time.monotonic() - started):.0f} req/s, "
                f"RSS {m['rss'] / MiB:.1f} MiB, allocated {m['allocated'] / MiB:.1f} MiB")
        duration = time.monotonic() - started
        stop.set()

        # -- counters ------------------------------------------------------------------
        time.sleep(1.0)  # a local reply can reach the client just before its increment
        plugin = envoy.stats("webhook_guard")
        allowed = plugin.get("webhook_guard.github.allowed", 0) + plugin.get("webhook_guard.token.allowed", 0)
        denied = {k: v for k, v in plugin.items() if ".denied." in k and v}
        sent_valid = counts["h2_valid"] + counts["h1_valid"] + sum(s.valid for s in senders)
        sent_forged = counts["h2_forged"] + sum(s.forged for s in senders)
        want_denied = {
            "webhook_guard.github.denied.signature_mismatch": sent_forged,
            "webhook_guard.github.denied.payload_too_large": counts["h2_oversized"],
            "webhook_guard.token.denied.header_missing": counts["h2_headers"],
        }
        upstream_2xx = stats_json(upstream, r"^http\.soak_upstream\.downstream_rq_2xx$").get(
            "http.soak_upstream.downstream_rq_2xx", 0)
        checks = {
            "allowed == valid sent": allowed == sent_valid,
            "denied by reason == refused sent": denied == want_denied,
            "allowed + denied == sent": allowed + sum(denied.values()) == REQUESTS,
            "upstream received == allowed": upstream_2xx == allowed,
        }

        # -- the VM ----------------------------------------------------------------------
        wasm_after = wasm_stats(envoy)
        # VMs created (the runtime's `created`) and plugin VM reloads: both unchanged.
        created = {k: (wasm_before.get(k), v) for k, v in wasm_after.items()
                   if k.endswith(".created") or ".vm_reload" in k}
        log = envoy.log()
        panics = [ln for ln in log.splitlines() if re.search(r"panicked|internal error|wasm.*(fail|crash|restart)", ln, re.I)]
        checks["no VM created or reloaded during the run"] = all(a == b for a, b in created.values())
        checks["no plugin failure in the log"] = not panics
        checks["envoy still running"] = envoy.proc.poll() is None

        # -- memory ----------------------------------------------------------------------
        rounds = [s for s in samples if s["round"] is not None]
        base, mid, end = rounds[1] if len(rounds) > 2 else rounds[0], rounds[len(rounds) // 2], rounds[-1]
        checks["RSS flat after round 1"] = end["rss"] - base["rss"] <= MEM_TOLERANCE
        checks["allocated flat after round 1"] = end["allocated"] - base["allocated"] <= MEM_TOLERANCE
        envoy.assert_no_secret_in_log()

        result.update(duration_s=duration, rps=REQUESTS / duration, allowed=allowed, denied=denied,
                      sent_valid=sent_valid, sent_forged=sent_forged, upstream_2xx=upstream_2xx,
                      wasm_before=wasm_before, wasm_after=wasm_after, panics=panics[:5], checks=checks,
                      memory={"start": start_mem, "after_round_1": base, "middle": mid, "end": end},
                      samples=samples)
        ok = all(checks.values())
        result["loadavg_end"] = machine()["loadavg"]
        say(f"done: {REQUESTS} requests in {duration:.0f}s ({REQUESTS / duration:.0f} req/s)")
        say(f"allowed {allowed} (valid sent {sent_valid}); denied {sum(denied.values())}: "
            + ", ".join(f"{k.split('webhook_guard.')[1]}={v}" for k, v in sorted(denied.items())))
        say(f"upstream received {upstream_2xx}")
        for name, s in (("start", start_mem), ("after round 1", base), ("middle", mid), ("end", end)):
            say(f"memory {name}: RSS {s['rss'] / MiB:.1f} MiB, allocated {s['allocated'] / MiB:.1f} MiB, "
                f"heap {s['heap_size'] / MiB:.1f} MiB")
        say("wasm stats: " + ", ".join(f"{k}={v}" for k, v in sorted(wasm_after.items())))
        for name, passed in checks.items():
            say(f"{'ok  ' if passed else 'FAIL'} {name}")
    except Failed as e:
        ok = False
        result["error"] = str(e)
        say(f"FAILED: {e}")
        say("envoy log tail:\n" + envoy.log()[-3000:])
    finally:
        stop.set()
        envoy.stop()
        upstream.stop()
        (WORK / "results.json").write_text(json.dumps(result, indent=1, default=str))
    if ok and (REQUESTS >= 1_000_000 or os.environ.get("SOAK_WRITE") == "1"):
        write_report(result)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
