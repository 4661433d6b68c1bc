"""harness.probes: script generation, output parsing, judge(), rerun commands."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.model import Outcome
from harness.model import ProbeKind
from harness.model import Status
from harness.model import TargetKind
from harness.probes import ProbeCall
from harness.probes import build_script
from harness.probes import classify
from harness.probes import judge
from harness.probes import judge_detail
from harness.probes import parse_output
from harness.probes import rerun_command
from tests.live.factory import make_probe

#: the busybox ``make deps`` builds as the client image's (netpol_sandbox/busybox_build.py)
BUILT_BUSYBOX = Path(__file__).resolve().parents[2] / ".deps" / "busybox" / "busybox"
BUSYBOX_APPLETS = ("sh", "nc", "date", "awk", "tr", "cut", "printf", "grep", "sleep", "cat")


def _http(target: str = "b", port: int = 80, expect: str = "allow") -> ProbeCall:
    return ProbeCall(make_probe("s", "a", target, port, expect), "10.0.0.2")  # type: ignore[arg-type]


def _udp(port: int = 53) -> ProbeCall:
    probe = make_probe("s", "a", "b", port, "allow", protocol="UDP", kind=ProbeKind.UDP)
    return ProbeCall(probe, "10.0.0.2")


def _dns(expect: str = "allow") -> ProbeCall:
    probe = make_probe(
        "s",
        "a",
        "dns",
        53,
        expect,  # type: ignore[arg-type]
        protocol="UDP",
        kind=ProbeKind.DNS,
        target_kind=TargetKind.DNS,
        host="kube-dns.kube-system.svc.cluster.local",
    )
    return ProbeCall(probe, probe.host or "")


# ------------------------------------------------------------------ script


def test_http_probes_share_one_parallel_curl_per_connect_timeout() -> None:
    calls = [_http(f"t{i}", 80 + i) for i in range(3)]
    calls.append(ProbeCall(calls[0].probe, "10.0.0.9", connect_timeout=2.0))
    script = build_script(calls, concurrency=200)
    body = script.splitlines()[-4:]
    assert body == [
        "nph_c 0 200 1 2 http://10.0.0.2:80/ http://10.0.0.2:81/ http://10.0.0.2:82/ &",
        "nph_c 1 200 2 3 http://10.0.0.9:80/ &",
        "wait",
        "exit 0",
    ]
    assert "--retry" not in script
    assert "--connect-timeout" in script
    assert "--parallel-max" in script
    # curl caps --parallel-max at 300
    assert build_script(calls, concurrency=1000).splitlines()[-4].startswith("nph_c 0 300 ")


def test_curl_groups_map_back_to_probe_indices() -> None:
    from harness.probes import curl_groups

    calls = [_udp(5353), _http("a"), _dns(), _http("b"), ProbeCall(_http("c").probe, "x", 3.0)]
    assert curl_groups(calls) == [[1, 3], [4]]
    out = "\n".join(
        [
            "NPC 0 1 0 0.002 200 0.001 ",
            "NPC 1 0 28 3.001 000 0.000000 Connection timed out after 3001 milliseconds",
            "NPH 0 0 0.010 netpol-harness-probe",
            "NPC 0 0 7 0.001 000 0.000000 Failed to connect: Connection refused",
            "NPH 2 0 0.020 Server: 10.96.0.10 Name: kube-dns Address: 10.96.0.10",
        ]
    )
    obs = parse_output(calls, out)
    assert [o.outcome for o in obs] == [
        Outcome.CONNECTED,
        Outcome.REFUSED,
        Outcome.CONNECTED,
        Outcome.CONNECTED,
        Outcome.DROPPED,
    ]
    assert obs[4].seconds == 3.001


def test_missing_curl_is_exit_127_for_its_group_only() -> None:
    calls = [_http("a"), _udp(5353)]
    obs = parse_output(calls, "NPC 0 missing\nNPH 1 1 1.000 \n")
    assert obs[0].outcome is Outcome.ERROR
    assert "probe tool is missing" in obs[0].detail
    assert obs[1].outcome is Outcome.DROPPED


def test_unknown_curl_option_is_quoted_in_the_error() -> None:
    obs = parse_output([_http("a")], "curl: option -Z: is unknown\n")
    assert obs[0].outcome is Outcome.ERROR
    assert "curl: option -Z: is unknown" in obs[0].detail


def test_script_lines_for_udp_and_dns() -> None:
    script = build_script([_udp(5353), _dns()])
    assert "nph_u 0 10.0.0.2 5353 1 &" in script.splitlines()
    assert "nph_d 1 kube-dns.kube-system.svc.cluster.local 1 &" in script.splitlines()


def test_script_stays_small() -> None:
    from harness.probes import script_size

    one = script_size([_http()])
    many = script_size([_http(f"t{i}", 80 + i) for i in range(101)])
    assert one < 1500  # fits an exec URL easily
    assert (many - one) / 100 < 40  # each extra probe is one URL


def test_script_quotes_hostile_hosts() -> None:
    probe = make_probe(
        "s", "a", "svc", 80, "allow", target_kind=TargetKind.SERVICE, host="x'; rm -rf / #"
    )
    script = build_script([ProbeCall(probe, probe.host or "")])
    line = next(ln for ln in script.splitlines() if ln.startswith("nph_c 0 "))
    assert line == "nph_c 0 128 1 2 'http://x'\"'\"'; rm -rf / #:80/' &"


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs sh")
def test_script_is_valid_posix_sh() -> None:
    script = build_script([_http(), _udp(), _dns()])
    subprocess.run(["sh", "-n", "-c", script], check=True)
    if shutil.which("shellcheck"):
        done = subprocess.run(
            ["shellcheck", "-s", "sh", "-e", "SC2317", "-"],
            input=script,
            check=False,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout


@pytest.fixture
def http_server() -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def udp_server() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                _, addr = sock.recvfrom(512)
            except TimeoutError:
                continue
            sock.sendto(b"ok\n", addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def image_path(tmp_path: Path) -> Path:
    """A PATH like the client image's: the busybox of ``make deps`` (its applets) and curl."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in BUSYBOX_APPLETS:
        (bindir / name).symlink_to(BUILT_BUSYBOX)
    (bindir / "busybox").symlink_to(BUILT_BUSYBOX)
    (bindir / "curl").symlink_to(shutil.which("curl") or "/usr/bin/curl")
    return bindir


@pytest.mark.skipif(
    shutil.which("curl") is None or not BUILT_BUSYBOX.exists(),
    reason="needs curl and the busybox of `make deps`",
)
def test_script_runs_for_real_on_loopback(
    http_server: int, udp_server: int, tmp_path: Path
) -> None:
    closed = _closed_port()
    calls = [
        ProbeCall(make_probe("s", "a", "b", http_server, "allow"), "127.0.0.1"),
        ProbeCall(make_probe("s", "a", "c", closed, "deny"), "127.0.0.1"),
        ProbeCall(
            make_probe("s", "a", "d", udp_server, "allow", protocol="UDP", kind=ProbeKind.UDP),
            "127.0.0.1",
        ),
    ]
    calls.append(
        ProbeCall(
            make_probe("s", "a", "e", closed, "deny", protocol="UDP", kind=ProbeKind.UDP),
            "127.0.0.1",
        )
    )
    done = subprocess.run(
        ["sh", "-c", build_script(calls, concurrency=2)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": str(image_path(tmp_path))},
    )
    obs = parse_output(calls, done.stdout, done.stderr)
    assert [o.outcome for o in obs] == [
        Outcome.CONNECTED,
        Outcome.REFUSED,
        Outcome.CONNECTED,
        Outcome.REFUSED,  # a closed UDP port: ICMP port unreachable, seen with nc -vv
    ], done.stdout
    assert "HTTP 204" in obs[0].detail
    assert judge(calls[1].probe, obs[1].outcome) is Status.FAIL
    assert judge(calls[3].probe, obs[3].outcome) is Status.FAIL


# ------------------------------------------------------------------ parsing


def test_parse_exactly_one_line_per_probe() -> None:
    calls = [_http("b"), _http("c"), _http("d")]
    out = "\n".join(
        [
            "some banner",
            "NPH 1 28 1.002 000 0.000000 Connection timed out after 1001 milliseconds",
            "NPH 0 0 0.012 200 0.000200 ",
            "NPH 7 0 0.1 out of range",
            "NPH x 0 0.1 malformed",
        ]
    )
    obs = parse_output(calls, out, "")
    assert [o.outcome for o in obs] == [Outcome.CONNECTED, Outcome.DROPPED, Outcome.ERROR]
    assert obs[1].seconds == pytest.approx(1.002)
    assert obs[2].probe_id == calls[2].probe.id
    assert "no result line" in obs[2].detail


def test_parse_duplicate_lines_are_an_error() -> None:
    calls = [_http()]
    obs = parse_output(calls, "NPH 0 0 0.1 200 0.1 \nNPH 0 28 1.0 000 0 x\n")
    assert obs[0].outcome is Outcome.ERROR
    assert "2 result lines" in obs[0].detail


def test_parse_empty_output_mentions_stderr() -> None:
    calls = [_http(), _udp()]
    obs = parse_output(calls, "", "sh: 1: curl: Killed\n")
    assert all(o.outcome is Outcome.ERROR for o in obs)
    assert "curl: Killed" in obs[0].detail


def test_parse_partial_output_cut_mid_line() -> None:
    calls = [_http(), _http("c")]
    obs = parse_output(calls, "NPH 0 0 0.012 200 0.0001 \nNPH 1 2")
    assert obs[0].outcome is Outcome.CONNECTED
    assert obs[1].outcome is Outcome.ERROR


@pytest.mark.parametrize(
    ("code", "extra", "outcome", "needle"),
    [
        (0, "200 0.0002 ", Outcome.CONNECTED, "HTTP 200"),
        (0, "503 0.0002 ", Outcome.CONNECTED, "HTTP 503"),
        (28, "000 0.000000 Connection timed out", Outcome.DROPPED, "timeout"),
        (28, "000 0.000300 Operation timed out after 4001 ms", Outcome.CONNECTED, "handshake"),
        (7, "000 0 Failed to connect: Connection refused", Outcome.REFUSED, "refused"),
        (7, "000 0 Failed to connect: No route to host", Outcome.REFUSED, "REJECT"),
        (6, "000 0 Could not resolve host: x", Outcome.DNS_FAILURE, "resolve"),
        # a Service name whose lookup timed out: DNS is blocked, the port was never tried
        (
            28,
            "000 0.000000 Resolving timed out after 1000 milliseconds",
            Outcome.DNS_FAILURE,
            "DNS lookup timed out",
        ),
        (52, "000 0.000100 Empty reply from server", Outcome.CONNECTED, "exit 52"),
        (56, "000 0 Recv failure", Outcome.ERROR, "exit 56"),
        (127, "sh: curl: not found", Outcome.ERROR, "missing"),
    ],
)
def test_classify_curl(code: int, extra: str, outcome: Outcome, needle: str) -> None:
    got, detail = classify(_http(), code, extra)
    assert got is outcome
    assert needle in detail


@pytest.mark.parametrize(
    ("code", "extra", "outcome"),
    [
        (0, "Server: 10.96.0.10 Name: kube-dns Address: 10.96.0.10", Outcome.CONNECTED),
        (1, ";; connection timed out; no servers could be reached", Outcome.DROPPED),
        (1, "** server can't find x: NXDOMAIN", Outcome.DNS_FAILURE),
        (1, "something else", Outcome.ERROR),
        # busybox builds that exit 0 on NXDOMAIN: the output decides, not the exit code
        (
            0,
            "Server: 10.96.0.10 Address: 10.96.0.10:53 ** server can't find "
            "kube-dns.kube-system.svc.cluster.local: NXDOMAIN",
            Outcome.DNS_FAILURE,
        ),
        (0, "Server: 10.96.0.10 Address: 10.96.0.10:53", Outcome.DNS_FAILURE),  # no answer
        (
            0,
            "Server: 10.96.0.10 Address: 10.96.0.10:53 Name: db.shop.svc.example.org "
            "Address: 10.96.4.2",
            Outcome.CONNECTED,
        ),
    ],
)
def test_classify_nslookup(code: int, extra: str, outcome: Outcome) -> None:
    assert classify(_dns(), code, extra)[0] is outcome


@pytest.mark.parametrize(
    ("code", "extra", "outcome"),
    [
        (
            0,
            "sent 21, rcvd 3 | 10.0.0.2 (10.0.0.2:53) open ok net timeout sent 21, rcvd 3",
            Outcome.CONNECTED,
        ),
        (
            0,
            "sent 21, rcvd 0 | 10.0.0.2 (10.0.0.2:53) open net timeout sent 21, rcvd 0",
            Outcome.DROPPED,
        ),
        (0, "sent 21, rcvd 0 | nc: net read: Connection refused sent 21, rcvd 0", Outcome.REFUSED),
        (0, " | ok", Outcome.CONNECTED),
        (0, " | ", Outcome.DROPPED),
        (1, " | nc: recv: Connection refused", Outcome.REFUSED),
        (1, "nc: invalid option -- 'u' Usage: nc", Outcome.ERROR),
        (120, "no UDP-capable nc", Outcome.ERROR),
    ],
)
def test_classify_udp(code: int, extra: str, outcome: Outcome) -> None:
    assert classify(_udp(), code, extra)[0] is outcome


# ------------------------------------------------------------------ judge


@pytest.mark.parametrize(
    ("expect", "outcome", "status"),
    [
        ("allow", Outcome.CONNECTED, Status.PASS),
        ("allow", Outcome.DROPPED, Status.FAIL),
        ("allow", Outcome.REFUSED, Status.FAIL),
        ("allow", Outcome.DNS_FAILURE, Status.FAIL),
        ("allow", Outcome.ERROR, Status.ERROR),
        ("deny", Outcome.CONNECTED, Status.FAIL),
        ("deny", Outcome.DROPPED, Status.PASS),
        ("deny", Outcome.REFUSED, Status.FAIL),
        ("deny", Outcome.DNS_FAILURE, Status.FAIL),
        ("deny", Outcome.ERROR, Status.ERROR),
    ],
)
def test_judge_table(expect: str, outcome: Outcome, status: Status) -> None:
    probe = make_probe("s", "a", "b", 80, expect)  # type: ignore[arg-type]
    assert judge(probe, outcome) is status


def test_judge_dns_target_nxdomain_means_server_reached() -> None:
    assert judge(_dns("allow").probe, Outcome.DNS_FAILURE) is Status.PASS
    assert judge(_dns("deny").probe, Outcome.DNS_FAILURE) is Status.FAIL
    assert judge(_dns("deny").probe, Outcome.DROPPED) is Status.PASS


def test_judge_detail_service_dns_failure_is_not_a_port_verdict() -> None:
    from harness.model import Observation

    probe = make_probe(
        "s",
        "a",
        "api",
        8080,
        "deny",
        target_kind=TargetKind.SERVICE,
        host="api.ns.svc.cluster.local",
    )
    detail = judge_detail(probe, Observation(probe.id, Outcome.DNS_FAILURE, "curl exit 6"))
    assert "DNS failed" in detail
    assert "not a verdict on port 8080" in detail
    assert judge(probe, Outcome.DNS_FAILURE) is Status.FAIL


# ------------------------------------------------------------------ rerun


def test_rerun_command_is_exact_kubectl_exec() -> None:
    probe = make_probe("s", "web", "api", 8080, "deny")
    cmd = rerun_command(probe, "10.0.0.7", "front-r1", "web", "client", 2.0)
    argv = shlex.split(cmd)
    assert argv[:7] == ["kubectl", "exec", "-n", "front-r1", "web", "-c", "client"]
    assert argv[7] == "--"
    assert argv[8] == "curl"
    assert "http://10.0.0.7:8080/" in argv
    assert argv[argv.index("--connect-timeout") + 1] == "2"
    assert "--retry" not in argv


def test_rerun_command_ipv6_and_udp() -> None:
    probe = make_probe("s", "web", "api", 80, "allow")
    assert "http://[fd00::5]:80/" in shlex.split(rerun_command(probe, "fd00::5", "n", "web"))
    udp = _udp(5353).probe
    argv = shlex.split(rerun_command(udp, "10.0.0.9", "n", "web"))
    assert argv[-3:-1] == ["sh", "-c"] or argv[-2] == "-c"
    assert "nc -vv -u -w 1 10.0.0.9 5353" in argv[-1]
