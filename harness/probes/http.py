"""HTTP and TCP probes: curl to a TCP port (an HTTP request, or the connect alone).

Every curl probe of a script runs in ONE ``curl --parallel`` process per connect
timeout ("group"); each transfer prints::

    NPC <group> <urlnum> <exit code> <seconds> <http_code> <time_connect> <errormsg>

Exit codes (https://curl.se/libcurl/c/libcurl-errors.html): 0 connected (any HTTP
code: the network delivered the request); 28 with ``time_connect`` 0 no TCP
handshake in time: DROPPED; 7 RST (REFUSED) or ICMP unreachable ("No route to
host", which a REJECT rule also produces: the detail says which); 6 the name did
not resolve: DNS_FAILURE; any other code after a completed handshake
(``time_connect`` > 0, e.g. 52 empty reply) CONNECTED with the code in the detail.
"""

from __future__ import annotations

import ipaddress
import shlex

from harness.model import Outcome
from harness.model import ProbeKind
from harness.probes.spec import ProbeKindSpec
from harness.probes.spec import fmt_seconds

#: Prefix of the result line of an HTTP/TCP probe (by curl group and URL number).
CURL_PREFIX = "NPC"
#: Extra seconds curl may spend after connecting (HTTP request/response). The
#: verdict only needs the handshake (any exit after it is CONNECTED), so this is
#: short: a connection whose handshake raced a policy being programmed can stall
#: after it, and must not hold a whole round for long.
RESPONSE_ALLOWANCE = 1.0
#: curl caps --parallel-max at 300.
CURL_PARALLEL_MAX = 300

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
#: The shell function running one curl group (defined once per script that has one).
CURL_FUNCTION = _CURL_FN.replace("CURLPREFIX", CURL_PREFIX).rstrip("\n")


def url(address: str, port: int) -> str:
    """``http://address:port/`` (an IPv6 address in brackets)."""
    host = address
    try:
        if ipaddress.ip_address(address).version == 6:
            host = f"[{address}]"
    except ValueError:
        pass
    return f"http://{host}:{port}/"


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
        fmt_seconds(connect_timeout),
        "--max-time",
        fmt_seconds(connect_timeout + RESPONSE_ALLOWANCE),
        "-w",
        "%{http_code} %{time_connect} %{errormsg}",
        url(address, port),
    ]


def group_line(number: int, parallel: int, timeout: float, urls: list[str]) -> str:
    """The script line running curl group ``number`` (``urls``) in the background."""
    quoted = " ".join(shlex.quote(u) for u in urls)
    return (
        f"nph_c {number} {parallel} {fmt_seconds(timeout)} "
        f"{fmt_seconds(timeout + RESPONSE_ALLOWANCE)} {quoted} &"
    )


def _time_connect(extra: str) -> float:
    parts = extra.split(" ", 2)
    if len(parts) >= 2:
        try:
            return float(parts[1])
        except ValueError:
            return 0.0
    return 0.0


def _message(extra: str) -> str:
    parts = extra.split(" ", 2)
    return parts[2].strip() if len(parts) == 3 else ""


def classify(code: int, extra: str) -> tuple[Outcome, str]:
    """A curl exit code and ``http_code time_connect errormsg`` -> outcome and detail."""
    message = _message(extra)
    connected = _time_connect(extra) > 0
    http_code = extra.split(" ", 1)[0] if extra else ""
    if code == 0:
        return Outcome.CONNECTED, f"curl exit 0, HTTP {http_code}"
    if code == 28 and "resolv" in message.lower():
        # The lookup of a Service name timed out inside the connect timeout: DNS is
        # blocked or broken; the port was never tried (not a drop of the port).
        return Outcome.DNS_FAILURE, f"curl exit 28 (DNS lookup timed out): {message}"
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
        return Outcome.DNS_FAILURE, f"curl exit 6 (could not resolve host): {message}".rstrip(": ")
    if connected:
        return Outcome.CONNECTED, (
            f"curl exit {code} after the TCP handshake completed: {message}".rstrip(": ")
        )
    return Outcome.ERROR, f"curl exit {code}: {message}".rstrip(": ")


def rerun(address: str, port: int, connect_timeout: float) -> str:
    """The curl command of one probe, showing curl's error message (-sS)."""
    argv = curl_argv(address, port, connect_timeout)
    argv[argv.index("-s")] = "-sS"
    return " ".join(shlex.quote(a) for a in argv)


HTTP = ProbeKindSpec(ProbeKind.HTTP, "curl", classify, rerun, curl_batch=True)
TCP = ProbeKindSpec(ProbeKind.TCP, "curl", classify, rerun, curl_batch=True)
