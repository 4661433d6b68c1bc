"""DNS probes: a name lookup with nslookup through the cluster DNS.

Success is CONNECTED, "timed out"/"no servers could be reached" DROPPED,
NXDOMAIN/"can't find" DNS_FAILURE, which for a DNS probe still means the server
answered (port 53 was reachable): it counts as reached.
"""

from __future__ import annotations

import re
import shlex

from harness.model import Outcome
from harness.model import ProbeKind
from harness.probes.spec import ProbeCall
from harness.probes.spec import ProbeKindSpec
from harness.probes.spec import wait_seconds

_FUNCTIONS = r"""nph_dns(){ o=$(nslookup -timeout="$2" "$1" 2>&1);r=$?
case $o in *Usage:*|*"invalid option"*|*"unrecognized option"*)o=$(nslookup "$1" 2>&1);r=$?;;esac
printf '%s' "$o";return "$r";}
"""
_RUNNER = r"""nph_d(){ a=$(nph_now);o=$(nph_dns "$2" "$3");r=$?;nph_emit "$1";}
"""


def nslookup_argv(name: str, timeout: float) -> list[str]:
    return ["nslookup", f"-timeout={wait_seconds(timeout)}", name]


def command(index: int, call: ProbeCall) -> str:
    """The line running DNS probe ``index`` in the background."""
    wait = wait_seconds(call.connect_timeout)
    return f"nph_d {index} {shlex.quote(call.address)} {wait} &"


def classify(code: int, extra: str) -> tuple[Outcome, str]:
    """nslookup's exit code AND its output: busybox builds exit 0 on NXDOMAIN.

    An answer is ``Name: ...`` followed by ``Address: ...`` (busybox and bind9
    nslookup alike; the script joins the output into one line); "can't find" or
    NXDOMAIN is a DNS_FAILURE whatever the exit code; "timed out" or "no servers
    could be reached" is DROPPED.
    """
    low = extra.lower()
    text = " ".join(extra.split())[:300]
    if "timed out" in low or "no servers could be reached" in low:
        return Outcome.DROPPED, f"nslookup exit {code}: {text}"
    if "nxdomain" in low or "can't find" in low or "can't resolve" in low:
        return Outcome.DNS_FAILURE, f"nslookup exit {code}: {text}"
    answered = _ANSWER.search(extra) is not None
    if code == 0 and answered:
        return Outcome.CONNECTED, "nslookup answered"
    if code == 0:
        return Outcome.DNS_FAILURE, f"nslookup exit 0 without an answer: {text}"
    return Outcome.ERROR, f"nslookup exit {code}: {text}"


#: "Name: <name>" then an "Address" line: the lookup got an answer.
_ANSWER = re.compile(r"\bName:\s*\S+\s+Address(?: \d+)?:\s*\S+")


def rerun(address: str, port: int, connect_timeout: float) -> str:
    return " ".join(shlex.quote(a) for a in nslookup_argv(address, connect_timeout))


DNS = ProbeKindSpec(
    ProbeKind.DNS,
    "nslookup",
    classify,
    rerun,
    reached=frozenset({Outcome.CONNECTED, Outcome.DNS_FAILURE}),
    functions=_FUNCTIONS,
    runner=_RUNNER,
    command=command,
)
