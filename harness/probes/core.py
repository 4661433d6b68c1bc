"""Probe commands: one POSIX sh script per source pod, its output, and verdicts.

Pure: no I/O. The runner builds a script with :func:`build_script`, runs it in
the source pod's ``client`` container with one exec call, and hands the output
to :func:`parse_output`, which returns exactly one :class:`Observation` per
probe (ERROR for any probe whose result line is missing or malformed).

Every probe prints exactly one line: UDP/DNS probes (one background job each)::

    NPH <index> <exit code> <seconds> <extra>

HTTP/TCP probes (all of a script's run by ONE ``curl --parallel`` process per
connect timeout, "group"; ``urlnum`` is the URL's position in the group)::

    NPC <group> <urlnum> <exit code> <seconds> <extra>

``extra`` is the tool's own summary (curl: ``http_code time_connect errormsg``;
nc/nslookup: the first bytes of their output), flattened to one line.

Exit codes and what they mean (curl: https://curl.se/libcurl/c/libcurl-errors.html):

- curl 0: connected (any HTTP code: the network delivered the request);
- curl 28 with ``time_connect`` 0: no TCP handshake in time: DROPPED;
- curl 7: the host answered with RST (REFUSED), or ICMP unreachable ("No route
  to host"), which a REJECT rule also produces: the detail says which;
- curl 6: the name did not resolve: DNS_FAILURE;
- any other curl code after a completed handshake (``time_connect`` > 0,
  e.g. 52 empty reply, 56 reset after connect): the network let it through,
  so CONNECTED with the code in the detail;
- nslookup: success CONNECTED, "timed out"/"no servers could be reached"
  DROPPED, NXDOMAIN/"can't find" DNS_FAILURE;
- nc -u: a reply CONNECTED, silence DROPPED, "refused" (ICMP port
  unreachable) REFUSED;
- everything else (127 tool missing, garbage, a signal): ERROR, never a verdict.
"""

from __future__ import annotations

import ipaddress
import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from harness.model import Observation
from harness.model import Outcome
from harness.model import Probe
from harness.model import ProbeKind
from harness.model import Status
from harness.model import TargetKind

#: Prefix of the result line of a UDP/DNS probe (by probe index).
LINE_PREFIX = "NPH"
#: Prefix of the result line of an HTTP/TCP probe (by curl group and URL number).
CURL_PREFIX = "NPC"
#: How many probes one script runs at the same time (per source pod). Deny probes
#: only wait on timers, and all HTTP probes share one curl process, so this is high:
#: a source pod's whole batch usually runs in one wave of one connect timeout.
DEFAULT_SCRIPT_CONCURRENCY = 128
#: Extra seconds curl may spend after connecting (HTTP request/response). The
#: verdict only needs the handshake (any exit after it is CONNECTED), so this is
#: short: a connection whose handshake raced a policy being programmed can stall
#: after it, and must not hold a whole round for long.
RESPONSE_ALLOWANCE = 1.0
#: Exit code the script uses when no UDP-capable tool exists in the image.
NO_UDP_TOOL = 120
#: Payload of the UDP probe datagram.
UDP_PAYLOAD = "netpol-harness-probe"

_MAX_EXTRA = 300


@dataclass(frozen=True)
class ProbeCall:
    """One probe made runnable: the probe and the concrete address to reach.

    ``address`` is the target pod's IP for pod targets, else ``probe.host``.
    """

    probe: Probe
    address: str
    connect_timeout: float = 1.0


def address_of(probe: Probe, pod_ips: dict[str, str] | None = None) -> str:
    """The address a probe targets: ``probe.host``, or the target pod's IP."""
    if probe.host:
        return probe.host
    if probe.target_pod is None:
        raise ValueError(f"probe {probe.id} has neither a host nor a target pod")
    key = str(probe.target_pod)
    if pod_ips is None or key not in pod_ips:
        raise KeyError(f"no IP known for target pod {key} of probe {probe.id}")
    return pod_ips[key]


def _fmt_seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def _url(scheme: str, address: str, port: int) -> str:
    host = address
    try:
        if ipaddress.ip_address(address).version == 6:
            host = f"[{address}]"
    except ValueError:
        pass
    return f"{scheme}://{host}:{port}/"


def curl_argv(address: str, port: int, connect_timeout: float) -> list[str]:
    """The curl command of a TCP/HTTP probe (no retries, no proxy, short timeouts)."""
    return [
        "curl",
        "-s",
        "-g",
        "--noproxy",
        "*",
        "-o",
        "/dev/null",
        "--connect-timeout",
        _fmt_seconds(connect_timeout),
        "--max-time",
        _fmt_seconds(connect_timeout + RESPONSE_ALLOWANCE),
        "-w",
        "%{http_code} %{time_connect} %{errormsg}",
        _url("http", address, port),
    ]


def nslookup_argv(name: str, timeout: float) -> list[str]:
    return ["nslookup", f"-timeout={max(1, math.ceil(timeout))}", name]


def _udp_wait(timeout: float) -> int:
    return max(1, math.ceil(timeout))


def _command(index: int, call: ProbeCall) -> str:
    """The one line running UDP/DNS probe ``index`` in the background."""
    probe = call.probe
    q = shlex.quote
    wait = _udp_wait(call.connect_timeout)
    if probe.kind is ProbeKind.DNS:
        return f"nph_d {index} {q(call.address)} {wait} &"
    if probe.kind is ProbeKind.UDP:
        return f"nph_u {index} {q(call.address)} {probe.port} {wait} &"
    raise ValueError(f"unknown probe kind {probe.kind!r}")


def _is_curl(call: ProbeCall) -> bool:
    return call.probe.kind in (ProbeKind.HTTP, ProbeKind.TCP)


def curl_groups(calls: Sequence[ProbeCall]) -> list[list[int]]:
    """Indices of the curl (HTTP/TCP) calls, one group per connect timeout, in index order.

    Each group is ONE ``curl --parallel`` process in the script; curl names a transfer
    by its position in the group (``%{urlnum}``), :func:`parse_output` maps it back.
    """
    groups: dict[float, list[int]] = {}
    for index, call in enumerate(calls):
        if _is_curl(call):
            groups.setdefault(call.connect_timeout, []).append(index)
    return list(groups.values())


# Kept short: the script travels in the exec URL (one `command=` query parameter).
# nph_c GROUP PARALLEL CONNECT_TIMEOUT MAX_TIME URL...: ONE curl process runs every URL
# at the same time (--parallel: deny probes only wait on timers, so this costs one
# process and a socket per probe); each transfer's line goes to stderr (-w %{stderr}),
# the bodies to /dev/null, and the read loop re-emits each line with one write.
_CURL_FN = r"""nph_c(){ g=$1;p=$2;t=$3;m=$4;shift 4
if ! command -v curl >/dev/null 2>&1;then echo "CURLPREFIX $g missing";return;fi
w="%{stderr}CURLPREFIX $g %{urlnum} %{exitcode} %{time_total}"
w="$w %{http_code} %{time_connect} %{errormsg}\n"
curl -Z --parallel-max "$p" --parallel-immediate -sg --no-progress-meter --noproxy '*' \
-H 'Connection: close' --connect-timeout "$t" --max-time "$m" -w "$w" "$@" 2>&1 >/dev/null|
while IFS= read -r l;do printf '%s\n' "$l";done;}
"""

_OTHER_FNS = r"""nph_now(){ t=$(date +%s.%N 2>/dev/null)
case $t in *N*|'')t=$(date +%s);;esac;echo "$t";}
nph_emit(){ b=$(nph_now);s=$(awk -v a="$a" -v b="$b" 'BEGIN{d=b-a;if(d<0)d=0;printf "%.3f",d}')
x=$(printf '%s' "$o"|tr '\r\n\t' '   '|cut -c1-MAXEXTRA)
printf 'PREFIX %s %s %s %s\n' "$1" "$r" "$s" "$x";}
U=none
if command -v busybox >/dev/null 2>&1&&busybox nc --help 2>&1|grep -q -e '-u';then U=busybox
elif command -v nc >/dev/null 2>&1&&nc -h 2>&1|grep -q -e '-u' -e 'Uu';then U=nc;fi
nph_udp(){ case $U in
busybox)printf 'PAYLOAD\n'|busybox nc -u -w "$1" "$2" "$3" 2>&1;;
nc)printf 'PAYLOAD\n'|nc -u -w "$1" "$2" "$3" 2>&1;;
*)echo "no UDP-capable nc (busybox nc -u) in the client image";return NOUDP;;esac;}
nph_dns(){ o=$(nslookup -timeout="$2" "$1" 2>&1);r=$?
case $o in *Usage:*|*"invalid option"*|*"unrecognized option"*)o=$(nslookup "$1" 2>&1);r=$?;;esac
printf '%s' "$o";return "$r";}
nph_u(){ a=$(nph_now);o=$(nph_udp "$4" "$2" "$3");r=$?;nph_emit "$1";}
nph_d(){ a=$(nph_now);o=$(nph_dns "$2" "$3");r=$?;nph_emit "$1";}
"""

#: curl caps --parallel-max at 300.
CURL_PARALLEL_MAX = 300


def build_script(calls: Sequence[ProbeCall], concurrency: int = DEFAULT_SCRIPT_CONCURRENCY) -> str:
    """One POSIX sh script running ``calls`` concurrently, ``concurrency`` at a time.

    HTTP/TCP probes: one ``curl --parallel`` process per connect timeout runs all of
    them at once (at most ``concurrency`` connections open at a time), printing
    ``NPC <group> <urlnum> <exit code> <seconds> <extra>`` per transfer; curl never
    retries; the options are those of :func:`curl_argv` (the rerun command). UDP and
    DNS probes print ``NPH <index> ...`` from background jobs run in waves of
    ``concurrency`` (POSIX sh has no ``wait -n``) alongside. Every line is written
    with a single ``printf`` (one short write, atomic on the exec pipe).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    q = shlex.quote
    lines: list[str] = []
    groups = curl_groups(calls)
    others = [i for i, call in enumerate(calls) if not _is_curl(call)]
    if groups:
        lines.append(_CURL_FN.replace("CURLPREFIX", CURL_PREFIX).rstrip("\n"))
    if others:
        prelude = (
            _OTHER_FNS.replace("PREFIX", LINE_PREFIX)
            .replace("MAXEXTRA", str(_MAX_EXTRA))
            .replace("PAYLOAD", UDP_PAYLOAD)
            .replace("NOUDP", str(NO_UDP_TOOL))
        )
        lines.append(prelude.rstrip("\n"))
    parallel = min(concurrency, CURL_PARALLEL_MAX)
    for number, group in enumerate(groups):
        timeout = calls[group[0]].connect_timeout
        urls = " ".join(q(_url("http", calls[i].address, calls[i].probe.port)) for i in group)
        lines.append(
            f"nph_c {number} {parallel} {_fmt_seconds(timeout)} "
            f"{_fmt_seconds(timeout + RESPONSE_ALLOWANCE)} {urls} &"
        )
    if others:
        lines.append("(")
        for start in range(0, len(others), concurrency):
            for index in others[start : start + concurrency]:
                lines.append(_command(index, calls[index]))
            lines.append("wait")
        lines.append(") &")
    lines.append("wait")
    lines.append("exit 0")
    return "\n".join(lines) + "\n"


def script_size(calls: Sequence[ProbeCall]) -> int:
    """Characters one script takes in the exec URL (percent-encoded), for batching."""
    return len(quote(build_script(calls), safe=""))


def script_timeout(
    calls: Sequence[ProbeCall], concurrency: int = DEFAULT_SCRIPT_CONCURRENCY
) -> float:
    """An upper bound of how long a script may run (for the exec's hard timeout)."""
    if not calls:
        return 5.0
    waves = math.ceil(len(calls) / min(concurrency, CURL_PARALLEL_MAX))
    worst = max(c.connect_timeout for c in calls) + RESPONSE_ALLOWANCE + 2.0
    return waves * worst + 10.0


# ------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class _Line:
    code: int
    seconds: float
    extra: str


_LINE = re.compile(r"^NPH (\d+) (-?\d+) ([0-9]+(?:\.[0-9]+)?)(?: (.*))?$")
_CURL_LINE = re.compile(r"^NPC (\d+) (\d+) (-?\d+) ([0-9]+(?:\.[0-9]+)?)(?: (.*))?$")
_CURL_MISSING = re.compile(r"^NPC (\d+) missing$")


def _curl_time_connect(extra: str) -> float:
    parts = extra.split(" ", 2)
    if len(parts) >= 2:
        try:
            return float(parts[1])
        except ValueError:
            return 0.0
    return 0.0


def _curl_message(extra: str) -> str:
    parts = extra.split(" ", 2)
    return parts[2].strip() if len(parts) == 3 else ""


def classify(call: ProbeCall, code: int, extra: str) -> tuple[Outcome, str]:
    """Map one probe's exit code and output to an Outcome and a detail."""
    kind = call.probe.kind
    if code == 127:
        return Outcome.ERROR, f"exit 127: the probe tool is missing in the client image ({extra})"
    if kind in (ProbeKind.HTTP, ProbeKind.TCP):
        message = _curl_message(extra)
        connected = _curl_time_connect(extra) > 0
        http_code = extra.split(" ", 1)[0] if extra else ""
        if code == 0:
            return Outcome.CONNECTED, f"curl exit 0, HTTP {http_code}"
        if code == 28 and not connected:
            return Outcome.DROPPED, f"curl exit 28 (timeout): {message}".rstrip(": ")
        if code == 7:
            if "no route" in message.lower():
                return Outcome.REFUSED, (
                    f"curl exit 7: {message} (ICMP unreachable: a REJECT rule or a missing "
                    "route, not a TCP reset)"
                )
            return Outcome.REFUSED, f"curl exit 7 (connection refused): {message}".rstrip(": ")
        if code == 6:
            return Outcome.DNS_FAILURE, f"curl exit 6 (could not resolve host): {message}".rstrip(
                ": "
            )
        if connected:
            return Outcome.CONNECTED, (
                f"curl exit {code} after the TCP handshake completed: {message}".rstrip(": ")
            )
        return Outcome.ERROR, f"curl exit {code}: {message}".rstrip(": ")
    if kind is ProbeKind.DNS:
        low = extra.lower()
        if code == 0:
            return Outcome.CONNECTED, "nslookup answered"
        if "timed out" in low or "no servers could be reached" in low:
            return Outcome.DROPPED, f"nslookup exit {code}: {extra.strip()}"
        if "nxdomain" in low or "can't find" in low or "can't resolve" in low:
            return Outcome.DNS_FAILURE, f"nslookup exit {code}: {extra.strip()}"
        return Outcome.ERROR, f"nslookup exit {code}: {extra.strip()}"
    if kind is ProbeKind.UDP:
        low = extra.lower()
        if code == NO_UDP_TOOL:
            return Outcome.ERROR, extra.strip()
        if "refused" in low:
            return Outcome.REFUSED, f"UDP: ICMP port unreachable ({extra.strip()})"
        if "invalid option" in low or "usage:" in low:
            return Outcome.ERROR, f"nc does not support UDP: {extra.strip()}"
        if code in (0, 1) and extra.strip():
            return Outcome.CONNECTED, f"UDP reply: {extra.strip()[:40]}"
        if code in (0, 1):
            return Outcome.DROPPED, "UDP: no reply"
        return Outcome.ERROR, f"nc exit {code}: {extra.strip()}"
    raise ValueError(f"unknown probe kind {kind!r}")


def parse_output(calls: Sequence[ProbeCall], stdout: str, stderr: str = "") -> list[Observation]:
    """Exactly one Observation per call, in order.

    A probe without exactly one well-formed result line gets ERROR (an
    infrastructure failure: the exec broke or the script was cut off).
    ``NPC <group> <urlnum>`` lines (the curl batch) are mapped back to the probe
    index through :func:`curl_groups`. Other lines are ignored (the last one is
    quoted as a hint when a result is missing and stderr is empty).
    """
    groups = curl_groups(calls)
    found: dict[int, list[_Line]] = {}
    noise: list[str] = []
    for raw in stdout.splitlines():
        text = raw.rstrip("\r")
        m = _LINE.match(text)
        if m:
            index = int(m.group(1))
            if index < len(calls):
                found.setdefault(index, []).append(
                    _Line(int(m.group(2)), float(m.group(3)), (m.group(4) or "").strip())
                )
            continue
        m = _CURL_LINE.match(text)
        if m:
            group, number = int(m.group(1)), int(m.group(2))
            if group < len(groups) and number < len(groups[group]):
                found.setdefault(groups[group][number], []).append(
                    _Line(int(m.group(3)), float(m.group(4)), (m.group(5) or "").strip())
                )
            continue
        m = _CURL_MISSING.match(text)
        if m and int(m.group(1)) < len(groups):
            for index in groups[int(m.group(1))]:
                found.setdefault(index, []).append(_Line(127, 0.0, "curl: not found"))
            continue
        if text.strip():
            noise.append(text.strip())
    hint = stderr.strip().splitlines()[-1][:200] if stderr.strip() else ""
    if not hint and noise:
        hint = noise[-1][:200]
    observations: list[Observation] = []
    for index, call in enumerate(calls):
        lines = found.get(index, [])
        if len(lines) != 1:
            what = "no result line" if not lines else f"{len(lines)} result lines"
            detail = f"{what} for probe {index} in the exec output"
            if hint:
                detail += f" (output: {hint})" if hint in noise[-1:] else f" (stderr: {hint})"
            observations.append(Observation(call.probe.id, Outcome.ERROR, detail))
            continue
        line = lines[0]
        outcome, detail = classify(call, line.code, line.extra)
        observations.append(Observation(call.probe.id, outcome, detail, line.seconds))
    return observations


# ------------------------------------------------------------------ verdicts


def judge(probe: Probe, outcome: Outcome) -> Status:
    """PASS/FAIL of one observation against the cell's expectation; ERROR stays ERROR.

    allow expects CONNECTED; deny expects DROPPED (REFUSED on a deny cell is a
    FAIL: the packet reached the host). For the built-in ``dns`` target a
    DNS_FAILURE (NXDOMAIN) means the DNS server answered, i.e. port 53 was
    reachable, so it counts as connected.
    """
    if outcome is Outcome.ERROR:
        return Status.ERROR
    reached = outcome is Outcome.CONNECTED or (
        outcome is Outcome.DNS_FAILURE and probe.cell.target.kind is TargetKind.DNS
    )
    if probe.cell.expect == "allow":
        return Status.PASS if reached else Status.FAIL
    return Status.PASS if outcome is Outcome.DROPPED else Status.FAIL


def judge_detail(probe: Probe, observation: Observation) -> str:
    """A human sentence about the observation for a verdict's detail."""
    outcome = observation.outcome
    expect = probe.cell.expect
    base = observation.detail
    if outcome is Outcome.DNS_FAILURE and probe.cell.target.kind is not TargetKind.DNS:
        return (
            f"DNS failed for {probe.host or 'the target'}: the name did not resolve, so this is "
            f"not a verdict on port {probe.port} ({base})"
        )
    if outcome is Outcome.REFUSED and expect == "allow" and "reject" not in base.lower():
        return (
            f"port closed: the packet reached the target, but nothing listens on port "
            f"{probe.port}/{probe.protocol} (check the port; a policy deny drops, it does not "
            f"refuse) ({base})"
        )
    if outcome is Outcome.REFUSED and expect == "deny":
        return f"refused: the packet reached the target host, a deny should drop it ({base})"
    if outcome is Outcome.DROPPED and expect == "allow":
        return f"dropped: expected a connection ({base})"
    if outcome is Outcome.CONNECTED and expect == "deny":
        return f"connected: expected the traffic to be dropped ({base})"
    return base


def rerun_command(
    probe: Probe,
    pod_ip_or_host: str,
    namespace: str,
    pod: str,
    container: str = "client",
    connect_timeout: float = 1.0,
) -> str:
    """The exact kubectl command reproducing one probe by hand."""
    q = shlex.quote
    prefix = f"kubectl exec -n {q(namespace)} {q(pod)} -c {q(container)} -- "
    if probe.kind in (ProbeKind.HTTP, ProbeKind.TCP):
        argv = curl_argv(pod_ip_or_host, probe.port, connect_timeout)
        argv[argv.index("-s")] = "-sS"
        return prefix + " ".join(q(a) for a in argv)
    if probe.kind is ProbeKind.DNS:
        return prefix + " ".join(q(a) for a in nslookup_argv(pod_ip_or_host, connect_timeout))
    wait = _udp_wait(connect_timeout)
    inner = f"printf '%s\\n' {UDP_PAYLOAD} | nc -u -w {wait} {q(pod_ip_or_host)} {probe.port}"
    return prefix + "sh -c " + q(inner)
