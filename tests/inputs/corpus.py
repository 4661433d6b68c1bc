# ruff: noqa: E501  (a table of inputs: one case per line reads best)
"""A corpus of broken and hostile inputs, one table, each with the answer it must get.

Every case is an input the harness reads (a scenario, a manifest it applies, a
``predict --objects`` file, a kubeconfig, an option value) and the promise: a
HarnessError (never another exception), one line per problem, ``file:line:`` of
the offending token, a bounded echo, the fix (how fast each is answered is measured
by bench/bench_inputs.py, not asserted). A line of the
input ending in ``#!`` marks the line the (first) error must name; ``line=None``
cases name no line (the file as a whole).

:func:`run` checks one case and returns a list of broken promises (empty: kept);
tests/inputs/test_corpus.py runs every case, tests/inputs/measure.py prints the share.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

MARK = "#!"
MAX_LINE = 600  # no message line may be longer (values are echoed cut)


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # scenario | manifest | predict | kubeconfig | option
    text: str | bytes
    needle: str  # a substring every good answer contains
    line: int | str | None = "mark"  # "mark": the #! line; None: no line; int: that line
    files: dict[str, str] = field(default_factory=dict)
    count: int = 1  # at least this many error lines
    option: str = ""


HEAD = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata:
  name: demo
namespaces:
  - name: front
  - name: back
workloads:
  - name: web
    namespace: front
    labels: {app: web}
    ports: [80]
  - name: api
    namespace: back
    labels: {app: api}
    ports: [{port: 8080, name: http}]
"""
TAIL = """\
expect:
  default: deny
  allow:
    - web -> api:8080
"""
MANIFESTS = "manifests:\n  - ../manifests/p.yaml\n"

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: p
  namespace: back
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector: {matchLabels: {app: web}}
      ports:
        - protocol: TCP
          port: 8080
"""

OBJECTS = """\
apiVersion: v1
kind: Namespace
metadata: {name: back}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: back, labels: {app: api}}
spec:
  containers:
    - name: c
      image: x
      ports: [{containerPort: 8080, name: http, protocol: TCP}]
status: {podIP: 10.0.0.2}
---
"""

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
  - name: c
    cluster: {server: 'https://192.0.2.1:6443'}
users:
  - name: u
    user: {token: abc}
contexts:
  - name: x
    context: {cluster: c, user: u}
current-context: x
"""


def _sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _scenario(old: str, new: str, *, tail: str = TAIL, extra: str = "") -> str:
    return _sub(HEAD + extra + tail, old, new)


def _cases() -> list[Case]:
    c: list[Case] = []
    add = c.append

    # ---------------------------------------------------------------- scenario syntax
    add(
        Case(
            "unclosed-quote",
            "scenario",
            _scenario("  name: demo\n", '  name: "demo #!\n'),
            "never closed",
        )
    )
    add(
        Case(
            "unclosed-flow",
            "scenario",
            _scenario("    labels: {app: web}\n", "    labels: {app: web #!\n"),
            "YAML",
        )
    )
    add(
        Case(
            "tab-indent",
            "scenario",
            _scenario("    labels: {app: web}\n", "\tlabels: {app: web} #!\n"),
            "YAML",
        )
    )
    add(Case("nul-byte", "scenario", _scenario("  name: demo\n", "  name: de\x00mo #!\n"), "NUL"))
    for ch in ("\x01", "\x07", "\x1b", "\x7f", "\x0c"):
        add(
            Case(
                f"control-{ord(ch):02x}",
                "scenario",
                _scenario("  name: demo\n", f"  name: de{ch}mo #!\n"),
                "control character",
            )
        )
    add(
        Case(
            "c1-control",
            "scenario",
            _scenario("  name: demo\n", "  name: de\x85\x90mo #!\n"),
            "control character",
        )
    )
    add(
        Case(
            "not-utf8",
            "scenario",
            _scenario("  name: demo\n", "  name: d\xe9mo #!\n").encode("latin-1"),
            "not UTF-8",
        )
    )
    add(Case("utf16", "scenario", (HEAD + TAIL).encode("utf-16"), "UTF-16", line=1))
    add(Case("empty", "scenario", "", "empty", line=1))
    add(Case("only-comments", "scenario", "# nothing\n", "empty", line=1))
    add(Case("a-list", "scenario", "- a #!\n- b\n", "must be a mapping", line=1))
    add(
        Case(
            "two-documents",
            "scenario",
            HEAD + TAIL + "---\n" + HEAD.replace("\n", " #!\n", 1) + TAIL,
            "more than one",
        )
    )
    add(Case("duplicate-top-key", "scenario", HEAD + "workloads: [] #!\n" + TAIL, "duplicate key"))
    add(
        Case(
            "duplicate-label-key",
            "scenario",
            _scenario("    labels: {app: web}\n", "    labels: {app: web, app: api} #!\n"),
            "duplicate key",
        )
    )
    add(
        Case(
            "python-tag",
            "scenario",
            _scenario("  name: demo\n", "  name: !!python/object:os.system demo #!\n"),
            "tag",
        )
    )
    add(
        Case(
            "binary-tag",
            "scenario",
            _scenario("  name: demo\n", "  name: !!binary ZGVtbw== #!\n"),
            "tag",
        )
    )
    add(Case("set-tag", "scenario", _scenario("  name: demo\n", "  name: !!set {a} #!\n"), "tag"))
    add(
        Case("custom-tag", "scenario", _scenario("  name: demo\n", "  name: !Ref demo #!\n"), "tag")
    )
    add(
        Case(
            "unknown-alias",
            "scenario",
            _scenario("    labels: {app: web}\n", "    labels: *nope #!\n"),
            "alias",
        )
    )
    add(
        Case(
            "deep-nesting",
            "scenario",
            _scenario(
                "  name: demo\n", "  name: demo\n  description: " + "[" * 60 + "]" * 60 + " #!\n"
            ),
            "nesting",
        )
    )
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for n in "bcdefg":
        prev = chr(ord(n) - 1)
        bomb += f"{n}: &{n} [{', '.join(['*' + prev] * 10)}]\n"
    add(Case("alias-bomb", "scenario", bomb, "alias bomb", line=5))  # the alias that crosses
    add(Case("key-is-mapping", "scenario", "? {a: 1} #!\n: x\n", "mapping key"))
    add(
        Case(
            "invalid-int",
            "scenario",
            _scenario("    ports: [80]\n", "    ports: [0x] #!\n"),
            "port",
        )
    )
    add(
        Case(
            "huge-int",
            "scenario",
            _scenario("    ports: [80]\n", "    ports: [" + "9" * 5000 + "] #!\n"),
            "not a valid int",
        )
    )
    add(
        Case(
            "too-big", "scenario", "# " + "x" * (1024 * 1024 + 10) + "\n", "larger than", line=None
        )
    )

    # ---------------------------------------------------------------- scenario fields
    add(
        Case(
            "wrong-apiversion",
            "scenario",
            _scenario(
                "apiVersion: netpol-harness.dev/v1alpha1\n",
                "apiVersion: netpol-harness.dev/v1 #!\n",
            ),
            "apiVersion must be",
        )
    )
    add(
        Case(
            "wrong-kind",
            "scenario",
            _scenario("kind: Scenario\n", "kind: scenario #!\n"),
            "kind must be",
        )
    )
    add(
        Case(
            "unknown-top-key",
            "scenario",
            HEAD + "workload: [] #!\n" + TAIL,
            "did you mean 'workloads'",
        )
    )
    add(
        Case("name-upper", "scenario", _scenario("  name: demo\n", "  name: Demo #!\n"), "DNS-1123")
    )
    add(
        Case(
            "name-long",
            "scenario",
            _scenario("  name: demo\n", "  name: " + "a" * 200 + " #!\n"),
            "at most 40",
        )
    )
    add(
        Case(
            "name-huge-echo",
            "scenario",
            _scenario("  name: demo\n", "  name: " + "A" * 200_000 + " #!\n"),
            "...",
        )
    )
    add(Case("name-number", "scenario", _scenario("  name: demo\n", "  name: 42 #!\n"), "string"))
    add(Case("name-bool-on", "scenario", _scenario("  name: demo\n", "  name: on #!\n"), "'on'"))
    add(Case("name-null", "scenario", _scenario("  name: demo\n", "  name: #!\n"), "no value"))
    add(
        Case(
            "name-cyrillic",
            "scenario",
            _scenario("  name: demo\n", "  name: d\u0435mo #!\n"),
            "\\u0435",
        )
    )
    add(
        Case(
            "label-on",
            "scenario",
            _scenario("    labels: {app: web}\n", "    labels: {app: on} #!\n"),
            "app: 'on'",
        )
    )
    add(
        Case(
            "label-yes",
            "scenario",
            _scenario("    labels: {app: web}\n", "    labels: {app: yes} #!\n"),
            "app: 'yes'",
        )
    )
    add(
        Case(
            "label-null",
            "scenario",
            _scenario("    labels: {app: web}\n", "    labels: {app: ~} #!\n"),
            "null",
        )
    )
    add(
        Case(
            "label-number",
            "scenario",
            _scenario("    labels: {app: web}\n", "    labels: {app: 1.5} #!\n"),
            "quote it",
        )
    )
    add(
        Case(
            "label-bad-key",
            "scenario",
            _scenario("    labels: {app: web}\n", "    labels: {'a b': web} #!\n"),
            "label key",
        )
    )
    add(
        Case(
            "label-long",
            "scenario",
            _scenario("    labels: {app: web}\n", "    labels: {app: " + "w" * 100 + "} #!\n"),
            "at most 63",
        )
    )
    add(
        Case(
            "label-reserved",
            "scenario",
            _scenario("    labels: {app: web}\n", "    labels: {netpol-harness.dev/x: y} #!\n"),
            "set by the harness",
        )
    )
    add(
        Case(
            "label-cyrillic",
            "scenario",
            _scenario("    labels: {app: web}\n", "    labels: {app: w\u0435b} #!\n"),
            "\\u0435",
        )
    )
    add(
        Case(
            "workload-typo-key",
            "scenario",
            _scenario("    labels: {app: web}\n", "    lables: {app: web} #!\n"),
            "did you mean 'labels'",
        )
    )
    add(
        Case(
            "workload-ns-undeclared",
            "scenario",
            _scenario("    namespace: front\n", "    namespace: frnt #!\n"),
            "did you mean 'front'",
        )
    )
    add(
        Case(
            "workload-dup",
            "scenario",
            _scenario("  - name: api\n", "  - name: web #!\n"),
            "declared twice",
        )
    )
    add(
        Case(
            "workload-reserved",
            "scenario",
            _scenario("  - name: web\n", "  - name: dns #!\n"),
            "reserved",
        )
    )
    add(
        Case(
            "role-typo",
            "scenario",
            _scenario("    ports: [80]\n", "    ports: [80]\n    role: sever #!\n"),
            "did you mean 'server'",
        )
    )
    add(
        Case(
            "port-zero",
            "scenario",
            _scenario("    ports: [80]\n", "    ports: [0] #!\n"),
            "out of range",
        )
    )
    add(
        Case(
            "port-negative",
            "scenario",
            _scenario("    ports: [80]\n", "    ports: [-80] #!\n"),
            "out of range",
        )
    )
    add(
        Case(
            "port-big",
            "scenario",
            _scenario("    ports: [80]\n", "    ports: [65536] #!\n"),
            "out of range",
        )
    )
    add(
        Case(
            "port-lower-proto",
            "scenario",
            _scenario("    ports: [80]\n", '    ports: ["80/tcp"] #!\n'),
            "upper case",
        )
    )
    add(
        Case(
            "port-bad-string",
            "scenario",
            _scenario("    ports: [80]\n", '    ports: ["http"] #!\n'),
            "PORT or PORT/PROTOCOL",
        )
    )
    add(
        Case(
            "port-twice",
            "scenario",
            _scenario("    ports: [80]\n", "    ports: [80, 80] #!\n"),
            "declared twice",
        )
    )
    add(
        Case(
            "port-name-bad",
            "scenario",
            _scenario(
                "    ports: [{port: 8080, name: http}]\n",
                "    ports: [{port: 8080, name: HTTP_1}] #!\n",
            ),
            "port name",
        )
    )
    add(
        Case(
            "ns-dup",
            "scenario",
            _scenario("  - name: back\n", "  - name: front #!\n"),
            "declared twice",
        )
    )
    add(
        Case(
            "ns-existing-not-bool",
            "scenario",
            _scenario("  - name: back\n", "  - name: back\n    existing: sure #!\n"),
            "true or false",
        )
    )
    add(
        Case(
            "settings-bad-duration",
            "scenario",
            _scenario("namespaces:\n", "settings: {connectTimeout: fast} #!\nnamespaces:\n"),
            "not a duration",
        )
    )
    add(
        Case(
            "settings-too-long",
            "scenario",
            _scenario("namespaces:\n", "settings: {convergence: 2h} #!\nnamespaces:\n"),
            "duration",
        )
    )
    add(
        Case(
            "settings-zero-timeout",
            "scenario",
            _scenario("namespaces:\n", "settings: {connectTimeout: 0} #!\nnamespaces:\n"),
            "more than 0",
        )
    )
    add(
        Case(
            "settings-unknown",
            "scenario",
            _scenario("namespaces:\n", "settings: {timeout: 1s} #!\nnamespaces:\n"),
            "unknown key",
        )
    )

    # ---------------------------------------------------------------- cells
    def cell(text: str, needle: str, cid: str) -> None:
        add(
            Case(
                cid,
                "scenario",
                _sub(HEAD + TAIL, "    - web -> api:8080\n", f"    - {text} #!\n"),
                needle,
            )
        )

    cell("wbe -> api:8080", "did you mean 'web'", "cell-source-typo")
    cell("web -> apii:8080", "did you mean 'api'", "cell-target-typo")
    cell("web -> api:9999", "does not serve port", "cell-port-unserved")
    cell("web -> api:htp", "did you mean 'http'", "cell-port-name-typo")
    cell("web -> api:8080/UDP", "protocol mismatch", "cell-proto-mismatch")
    cell("web -> api:8080/tcp", "upper case", "cell-proto-lower")
    cell("web => api:8080", "SOURCE -> TARGET", "cell-arrow")
    cell("web -> api:8080 -> db", "SOURCE -> TARGET", "cell-two-arrows")
    cell("web -> a pi:8080", "spaces", "cell-space")
    cell("'web -> api:'", "bad port", "cell-empty-port")
    cell("web -> api:99999999999", "out of range", "cell-huge-port")
    cell("web -> web:80", "itself", "cell-self")
    cell("web -> dns:80", "port 53", "cell-dns-port")
    cell("dns -> api", "cannot be a source", "cell-dns-source")
    cell("web -> w\u0435b", "\\u0435", "cell-cyrillic")
    cell("{from: web, to: api, port: 8080, via: tunnel}", "via", "cell-via")
    cell("{from: web, to: api, prot: 8080}", "did you mean 'port'", "cell-map-typo")
    cell("{from: web}", "missing 'to'", "cell-map-no-to")
    cell("42", "must be a string", "cell-number")
    cell("web -> api:" + "x" * 300, "...", "cell-long-echo")
    add(
        Case(
            "cell-conflict",
            "scenario",
            _sub(
                HEAD + TAIL,
                "    - web -> api:8080\n",
                "    - web -> api:8080\n  deny:\n    - web -> api:8080 #!\n",
            ),
            "but allow",
        )
    )
    add(
        Case(
            "cell-twice",
            "scenario",
            _sub(
                HEAD + TAIL,
                "    - web -> api:8080\n",
                "    - web -> api:8080\n    - web -> api:http #!\n",
            ),
            "listed twice",
        )
    )
    add(
        Case(
            "default-typo",
            "scenario",
            _sub(HEAD + TAIL, "  default: deny\n", "  default: deny-all #!\n"),
            "did you mean 'deny'",
        )
    )
    add(Case("no-cells", "scenario", HEAD + "expect: {} #!\n", "no cells"))
    many = "".join(
        f"  - {{name: w{i}, namespace: back, labels: {{app: w{i}}}, ports: [{','.join(str(p) for p in range(1000, 1030))}]}}\n"
        for i in range(200)
    )
    add(Case("cell-explosion", "scenario", HEAD + many + "expect:\n  default: deny #!\n", "limit"))
    wild = HEAD + many + "expect:\n  allow:\n" + "".join('    - "* -> *"\n' for _ in range(3))
    add(
        Case(
            "wildcard-explosion",
            "scenario",
            wild.replace('    - "* -> *"\n', '    - "* -> *" #!\n', 1),
            "more than",
        )
    )

    # ---------------------------------------------------------------- externals
    for addr, needle, cid in (
        ("127.0.0.1", "loopback", "ext-loopback"),
        ("'::1'", "loopback", "ext-loopback6"),
        ("0.0.0.0", "unspecified", "ext-unspecified"),
        ("'::'", "unspecified", "ext-unspecified6"),
        ("169.254.169.254", "link-local", "ext-metadata"),
        ("'fe80::1'", "link-local", "ext-linklocal6"),
        ("224.0.0.1", "multicast", "ext-multicast"),
        ("255.255.255.255", "broadcast", "ext-broadcast"),
        ("'::ffff:127.0.0.1'", "loopback", "ext-mapped-loopback"),
        ("198.51.100.300", "not an IP", "ext-bad-ip"),
        ("example.com", "not an IP", "ext-hostname"),
        ("10.0.0.0/8", "not an IP", "ext-cidr"),
    ):
        add(
            Case(
                cid,
                "scenario",
                HEAD + f"externals:\n  - {{name: pay, address: {addr}, port: 443}} #!\n" + TAIL,
                needle,
            )
        )
    add(
        Case(
            "ext-port",
            "scenario",
            HEAD + "externals:\n  - {name: pay, address: 198.51.100.1, port: 0} #!\n" + TAIL,
            "out of range",
        )
    )
    add(
        Case(
            "ext-name-clash",
            "scenario",
            HEAD + "externals:\n  - {name: web, address: 198.51.100.1, port: 443} #!\n" + TAIL,
            "already used",
        )
    )

    # ---------------------------------------------------------------- manifests (cross-file)
    def manifest(policy: str, needle: str, cid: str, count: int = 1) -> None:
        add(
            Case(
                cid,
                "manifest",
                HEAD + MANIFESTS + TAIL,
                needle,
                files={"manifests/p.yaml": policy},
                count=count,
            )
        )

    manifest(
        _sub(POLICY, "  ingress:\n", "  ingres: #!\n"), "did you mean 'ingress'", "np-typo-ingres"
    )
    manifest(
        _sub(POLICY, "        - protocol: TCP\n", "        - protocol: tcp #!\n"),
        "'TCP'",
        "np-lower-tcp",
    )
    manifest(
        _sub(POLICY, "          port: 8080\n", "          port: -1 #!\n"),
        "out of range",
        "np-negative-port",
    )
    manifest(
        _sub(POLICY, "          port: 8080\n", "          port: 70000 #!\n"),
        "out of range",
        "np-big-port",
    )
    manifest(
        _sub(POLICY, "          port: 8080\n", "          port: 8080\n          endPort: 80 #!\n"),
        "smaller than",
        "np-endport",
    )
    manifest(
        _sub(POLICY, "          port: 8080\n", "          port: '8080' #!\n"),
        "without quotes",
        "np-quoted-port",
    )
    manifest(
        _sub(
            POLICY,
            "        - podSelector: {matchLabels: {app: web}}\n",
            "        - ipBlock: {cidr: 10.0.0.1} #!\n",
        ),
        "not a CIDR",
        "np-cidr-no-prefix",
    )
    manifest(
        _sub(
            POLICY,
            "        - podSelector: {matchLabels: {app: web}}\n",
            "        - ipBlock:\n            cidr: 10.0.0.0/8\n            except: [192.168.0.0/16] #!\n",
        ),
        "strict subset",
        "np-except-outside",
    )
    manifest(
        _sub(
            POLICY,
            "        - podSelector: {matchLabels: {app: web}}\n",
            "        - ipBlock: {cidr: 10.0.0.0/33} #!\n",
        ),
        "not a valid CIDR",
        "np-cidr-33",
    )
    manifest(
        _sub(POLICY, "        - podSelector: {matchLabels: {app: web}}\n", "        - {} #!\n"),
        "must specify a peer",
        "np-empty-peer",
    )
    manifest(
        _sub(
            POLICY,
            "        - podSelector: {matchLabels: {app: web}}\n",
            "        - {ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}} #!\n",
        ),
        "combine",
        "np-ipblock-and",
    )
    manifest(
        _sub(POLICY, "  policyTypes: [Ingress]\n", "  policyTypes: [ingress] #!\n"),
        "did you mean 'Ingress'",
        "np-policytype-case",
    )
    manifest(
        _sub(
            POLICY,
            "apiVersion: networking.k8s.io/v1\n",
            "apiVersion: networking.k8s.io/v1beta1 #!\n",
        ),
        "not served",
        "np-v1beta1",
    )
    manifest(
        _sub(POLICY, "apiVersion: networking.k8s.io/v1\n", "apiVersion: extensions/v1beta1 #!\n"),
        "not served",
        "np-extensions",
    )
    manifest(
        _sub(POLICY, "kind: NetworkPolicy\n", "kind: networkpolicy #!\n"),
        "case-sensitive",
        "kind-lower",
    )
    manifest(
        _sub(POLICY, "kind: NetworkPolicy\n", "kind: Networkpolicy #!\n"),
        "case-sensitive",
        "kind-mixed",
    )
    manifest(_sub(POLICY, "kind: NetworkPolicy\n", "kind: #!\n"), "no value", "kind-null")
    manifest(_sub(POLICY, "kind: NetworkPolicy\n", "kind: 7 #!\n"), "string", "kind-number")
    manifest(_sub(POLICY, "  name: p\n", "  name: P_1 #!\n"), "DNS-1123", "np-name-bad")
    manifest(
        _sub(POLICY, "  namespace: back\n", "  namespace: bak #!\n"),
        "did you mean 'back'",
        "np-ns-typo",
    )
    manifest(
        _sub(
            POLICY,
            "  podSelector: {matchLabels: {app: api}}\n",
            "  podSelector: {matchLabels: {app: on}} #!\n",
        ),
        "quote it",
        "np-label-on",
    )
    manifest(
        _sub(
            POLICY,
            "  podSelector: {matchLabels: {app: api}}\n",
            "  podSelector: {matchExpressions: [{key: app, operator: in, values: [a]}]} #!\n",
        ),
        "did you mean 'In'",
        "np-operator-case",
    )
    manifest(
        _sub(
            POLICY,
            "  podSelector: {matchLabels: {app: api}}\n",
            "  podSelector: {matchExpressions: [{key: app, operator: In}]} #!\n",
        ),
        "needs values",
        "np-in-no-values",
    )
    manifest(
        _sub(
            POLICY,
            "  podSelector: {matchLabels: {app: api}}\n",
            "  podSelector: {matchLabel: {app: api}} #!\n",
        ),
        "did you mean 'matchLabels'",
        "np-matchlabel",
    )
    manifest(
        _sub(POLICY, "metadata:\n", "metadata:\n  nmae: x #!\n"), "did you mean 'name'", "meta-typo"
    )
    manifest(
        _sub(POLICY, "  namespace: back\n", "  namespace: back\n  annotations: {a: 1} #!\n"),
        "must be a string",
        "annotation-number",
    )
    manifest(
        _sub(POLICY, "  ingress:\n", "  ingres:\n").replace("  name: p\n", "  name: P_1 #!\n"),
        "ingres",
        "np-two-errors",
        count=2,
    )
    manifest(
        "apiVersion: v1 #!\nkind: Namespace\nmetadata: {name: x}\n",
        "created by the harness",
        "ns-object",
    )
    manifest(
        POLICY
        + "---\n"
        + POLICY.replace(
            "apiVersion: networking.k8s.io/v1\n", "apiVersion: networking.k8s.io/v1 #!\n"
        ),
        "defined twice",
        "dup-object-same-file",
    )
    add(
        Case(
            "manifest-empty",
            "manifest",
            HEAD + "manifests:\n  - ../manifests/p.yaml #!\n" + TAIL,
            "holds no objects",
            files={"manifests/p.yaml": ""},
        )
    )
    manifest("- just #!\n- a list\n", "must be a mapping", "manifest-list")
    manifest(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: back}\nspec:\n  containers:\n"
        "    - name: c\n      ports: [{containerPort: 0}] #!\n",
        "not a port number",
        "pod-port-zero",
    )
    add(
        Case(
            "manifest-missing",
            "manifest",
            HEAD + "manifests:\n  - ../manifests/nope.yaml #!\n" + TAIL,
            "does not exist",
            files={"manifests/p.yaml": POLICY},
        )
    )
    add(
        Case(
            "manifest-typo-name",
            "manifest",
            HEAD + "manifests:\n  - ../manifests/q.yaml #!\n" + TAIL,
            "did you mean 'p.yaml'",
            files={"manifests/p.yaml": POLICY},
        )
    )
    add(
        Case(
            "manifest-twice",
            "manifest",
            HEAD + "manifests:\n  - ../manifests/p.yaml\n  - ../manifests/./p.yaml #!\n" + TAIL,
            "listed twice",
            files={"manifests/p.yaml": POLICY},
        )
    )
    add(
        Case(
            "manifest-hundreds",
            "manifest",
            HEAD
            + "manifests:\n"
            + "".join(f"  - ../manifests/p{i}.yaml\n" for i in range(300))
            + TAIL,
            "more than the limit",
            line=18,
            files={"manifests/p.yaml": POLICY},
        )
    )
    add(
        Case(
            "manifest-outside-root",
            "manifest",
            HEAD + "manifests:\n  - /etc/passwd #!\n" + TAIL,
            "leaves the project root",
            files={"manifests/p.yaml": POLICY},
        )
    )
    add(
        Case(
            "manifest-dir",
            "manifest",
            HEAD + "manifests:\n  - ../manifests #!\n" + TAIL,
            "is a directory",
            files={"manifests/p.yaml": POLICY},
        )
    )
    add(
        Case(
            "dup-object-across-files",
            "manifest",
            HEAD + "manifests:\n  - ../manifests/p.yaml\n  - ../manifests/q.yaml\n" + TAIL,
            "defined twice",
            line=1,
            files={"manifests/p.yaml": POLICY, "manifests/q.yaml": POLICY},
        )
    )
    add(
        Case(
            "manifest-number",
            "manifest",
            HEAD + "manifests:\n  - 42 #!\n" + TAIL,
            "file path",
            files={"manifests/p.yaml": POLICY},
        )
    )

    # ---------------------------------------------------------------- predict --objects
    def objects(
        text: str, needle: str, cid: str, line: int | str | None = "mark", count: int = 1
    ) -> None:
        add(Case(cid, "predict", text, needle, line=line, count=count))

    def pol(old: str, new: str) -> str:
        return OBJECTS + _sub(POLICY, old, new)

    objects(pol("  ingress:\n", "  ingres: #!\n"), "did you mean 'ingress'", "p-typo-ingres")
    objects(
        pol("        - protocol: TCP\n", "        - protocol: tcp #!\n"), "'TCP'", "p-lower-tcp"
    )
    objects(
        pol("          port: 8080\n", "          port: -80 #!\n"), "out of range", "p-negative-port"
    )
    objects(
        pol(
            "        - podSelector: {matchLabels: {app: web}}\n",
            "        - ipBlock: {cidr: 10.1.2.3} #!\n",
        ),
        "not a CIDR",
        "p-cidr-no-prefix",
    )
    objects(
        pol(
            "        - podSelector: {matchLabels: {app: web}}\n",
            "        - ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]} #!\n",
        ),
        "strict subset",
        "p-except-outside",
    )
    objects(
        pol("apiVersion: networking.k8s.io/v1\n", "apiVersion: networking.k8s.io/v1beta1 #!\n"),
        "not served",
        "p-v1beta1",
    )
    objects(pol("  name: p\n", "  name: p\n  name: q #!\n"), "duplicate key", "p-duplicate-key")
    objects(
        OBJECTS
        + "apiVersion: projectcalico.org/v3\nkind: NetworkSet #!\nmetadata: {name: d, namespace: back}\n"
        "spec:\n  nets: [10.0.0.0/8]\n",
        "projectcalico.org/v3 NetworkSet is not supported yet",
        "p-calico",
    )
    objects(
        OBJECTS
        + "apiVersion: crd.projectcalico.org/v1\nkind: GlobalNetworkPolicy #!\nmetadata: {name: d}\n",
        "not supported yet",
        "p-calico-global",
    )
    objects(
        OBJECTS
        + "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy #!\nmetadata: {name: d, namespace: back}\n",
        "not supported yet",
        "p-cilium",
    )
    objects(
        OBJECTS
        + "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: AdminNetworkPolicy #!\nmetadata: {name: d}\n",
        "not supported yet",
        "p-anp",
    )
    objects(
        OBJECTS
        + "apiVersion: apps/v1\nkind: Deployment #!\nmetadata: {name: d, namespace: back}\n",
        "no pod template",
        "p-deployment",
    )
    objects(
        OBJECTS
        + "apiVersion: example.com/v1\nkind: Widget #!\nmetadata: {name: d, namespace: back}\n",
        "not a kind the engine knows",
        "p-unknown-kind",
    )
    objects(
        OBJECTS + "apiVersion: v1\nkind: pod #!\nmetadata: {name: d, namespace: back}\n",
        "case-sensitive",
        "p-kind-lower",
    )
    objects(
        OBJECTS + "apiVersion: v1\nkind: #!\nmetadata: {name: d, namespace: back}\n",
        "no value",
        "p-kind-null",
    )
    objects("", "holds no objects", "p-empty", line=None)
    objects("# only a comment\n", "holds no objects", "p-comments", line=None)
    objects("- just #!\n- strings\n", "kind: List", "p-a-list", line=1)
    objects(
        OBJECTS.replace("status: {podIP: 10.0.0.2}\n", "status: {podIP: 10.0.0.300} #!\n"),
        "not an IP",
        "p-bad-pod-ip",
    )
    objects(
        OBJECTS.replace(
            "ports: [{containerPort: 8080, name: http, protocol: TCP}]\n",
            "ports: [{containerPort: -1}] #!\n",
        ),
        "not a port number",
        "p-container-port",
    )
    objects(
        OBJECTS.replace(
            "ports: [{containerPort: 8080, name: http, protocol: TCP}]\n",
            "ports: [{containerPort: 80, protocol: tcp}] #!\n",
        ),
        "'TCP'",
        "p-container-proto",
    )
    objects(
        OBJECTS.replace("spec:\n  containers:", "spec:\n  hostNetwork: true #!\n  containers:"),
        "hostNetwork",
        "p-host-network",
    )
    objects(
        OBJECTS.replace("spec:\n  containers:", "spec:\n  contianers: [] #!\n  containers:"),
        "did you mean 'containers'",
        "p-containers-typo",
    )
    objects(
        OBJECTS
        + OBJECTS.replace("apiVersion: v1\nkind: Pod\n", "apiVersion: v1 #!\nkind: Pod\n").split(
            "---\n", 1
        )[1],
        "given twice",
        "p-duplicate-object",
    )
    objects("kind: List\napiVersion: v1\nitems: 5 #!\n", "must be a list", "p-list-items")
    objects(
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{n}: &{n} [{', '.join(['*' + chr(ord(n) - 1)] * 10)}]\n" for n in "bcdefg"),
        "alias bomb",
        "p-alias-bomb",
        line=5,
    )
    objects(
        OBJECTS + 'apiVersion: v1\nkind: Pod\nmetadata: {name: "x #!\n',
        "never closed",
        "p-unclosed-quote",
    )
    objects(OBJECTS + "apiVersion: v1\nkind: Pod\nmetadata: {name: x\x00y} #!\n", "NUL", "p-nul")
    objects(
        OBJECTS.replace("metadata: {name: back}", "metadata: {name: b\u0430ck} #!"),
        "\\u0430",
        "p-cyrillic-ns",
    )
    objects(
        pol("  ingress:\n", "  ingres:\n").replace("  name: p\n", "  name: P_1 #!\n"),
        "ingres",
        "p-several-errors",
        count=2,
    )
    objects(
        OBJECTS.replace("status: {podIP: 10.0.0.2}\n", "status: {podIP: 10.0.0.2}\n") + "{",
        "YAML",
        "p-trailing-brace",
        line=16,
    )

    # ---------------------------------------------------------------- kubeconfigs
    def kube(text: str | bytes, needle: str, cid: str, line: int | str | None = "mark") -> None:
        add(Case(cid, "kubeconfig", text, needle, line=line))

    kube("", "empty", "k-empty", line=None)
    kube("- a #!\n- b\n", "not a kubeconfig", "k-a-list", line=1)
    kube(
        _sub(KUBECONFIG, "clusters:\n", "clusters: 5 #!\n").replace(
            "  - name: c\n    cluster: {server: 'https://192.0.2.1:6443'}\n", ""
        ),
        "not a kubeconfig",
        "k-clusters-number",
    )
    kube(
        _sub(
            KUBECONFIG,
            "    cluster: {server: 'https://192.0.2.1:6443'}\n",
            "    cluster: [a, b] #!\n",
        ),
        "must be a mapping",
        "k-cluster-list",
    )
    kube(
        _sub(
            KUBECONFIG,
            "    cluster: {server: 'https://192.0.2.1:6443'}\n",
            "    cluster: {server: x, certificate-authority-data: 'abc'} #!\n",
        ),
        "base64",
        "k-bad-base64",
    )
    kube(
        _sub(
            KUBECONFIG, "    user: {token: abc}\n", "    user: {tokenFile: /nonexistent/token} #!\n"
        ),
        "tokenFile",
        "k-missing-token-file",
    )
    kube(
        _sub(KUBECONFIG, "    user: {token: abc}\n", "    user: {token: [1, 2]} #!\n"),
        "must be a string",
        "k-token-list",
    )
    kube(bytes(range(128, 256)) * 3, "not a kubeconfig", "k-binary", line=1)
    kube(
        _sub(KUBECONFIG, "current-context: x\n", 'current-context: "x #!\n'),
        "never closed",
        "k-unclosed-quote",
    )
    kube(
        _sub(KUBECONFIG, "kind: Config\n", "kind: Config\nkind: Config #!\n"),
        "duplicate key",
        "k-duplicate-key",
    )
    kube(_sub(KUBECONFIG, "kind: Config\n", "kind: Con\x00fig #!\n"), "NUL", "k-nul")
    kube("# " + "x" * (2 * 1024 * 1024) + "\n", "larger than", "k-huge", line=None)
    kube(
        _sub(KUBECONFIG, "current-context: x\n", "current-context: [x] #!\n"),
        "must be a string",
        "k-context-list",
    )
    kube(_sub(KUBECONFIG, "  - name: c\n", "  - nam: c #!\n"), "with a name", "k-entry-no-name")
    kube(
        _sub(KUBECONFIG, "kind: Config\n", "kind: Config\nx: !!python/object:os.system a #!\n"),
        "tag",
        "k-tag",
    )

    # ---------------------------------------------------------------- options
    def option(name: str, value: str, needle: str, cid: str) -> None:
        add(Case(cid, "option", value, needle, line=None, option=name))

    option("concurrency", "0", "1 to 1024", "o-concurrency-0")
    option("concurrency", "9" * 5000, "...", "o-concurrency-huge")
    option("concurrency", "\u0661\u0666", "escaped", "o-concurrency-arabic-digits")
    option("connect-timeout", "forever", "duration", "o-timeout-word")
    option("connect-timeout", "1e400", "duration", "o-timeout-inf")
    option("convergence", "-1s", "duration", "o-convergence-negative")
    option("kubeconfig", "/nonexistent/kc", "no such file", "o-kubeconfig-missing")
    option("kubeconfig", "FIFO", "named pipe", "o-kubeconfig-fifo")
    option("kubeconfig", "LOOP", "symbolic link loop", "o-kubeconfig-loop")
    option("kubeconfig", "DIR", "is a directory", "o-kubeconfig-dir")
    option("context", "a b", "spaces", "o-context-space")
    option("context", "kind\x1b[31m", "escaped", "o-context-escape")
    option("image-pull-secret", "Reg_Cred", "Secret name", "o-secret-bad")
    option("client-image", "x" * 100_000 + " y", "...", "o-image-long")
    return c


CASES = _cases()


# ---------------------------------------------------------------- running one case


class _FakeConfig:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def getoption(self, dest: str, default: Any = None) -> Any:
        return self.values.get(dest, default)

    def getini(self, dest: str) -> Any:
        return (
            False
            if dest in ("netpol_keep", "netpol_static", "netpol_in_place", "netpol_no_preflight")
            else ""
        )


def _project(tmp: Path, case: Case) -> Path:
    (tmp / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp / "scenarios").mkdir(exist_ok=True)
    (tmp / "manifests").mkdir(exist_ok=True)
    for name, text in case.files.items():
        (tmp / name).write_text(text, encoding="utf-8")
    path = tmp / "scenarios" / "s.netpol.yaml"
    if isinstance(case.text, bytes):
        path.write_bytes(case.text)
    else:
        path.write_text(case.text, encoding="utf-8", errors="surrogatepass")
    return path


def expected_line(case: Case) -> int | None:
    if case.line != "mark":
        return case.line  # type: ignore[return-value]
    text = case.text.decode("latin-1") if isinstance(case.text, bytes) else case.text
    if case.kind == "manifest" and MARK not in text:
        text = next(t for t in case.files.values() if MARK in t)
    lines = [i + 1 for i, line in enumerate(text.split("\n")) if line.rstrip().endswith(MARK)]
    assert len(lines) == 1, (case.id, lines)
    return lines[0]


def answer(case: Case, tmp: Path) -> tuple[BaseException | None, str]:
    """Feed the case to its loader: (the exception, or None if accepted; its text)."""
    import os

    import pytest

    from harness.commands.predict import load_cluster
    from harness.live.cluster import Cluster
    from harness.plugin.options import resolve_options
    from harness.scenario.loader import load

    try:
        if case.kind in ("scenario", "manifest"):
            load(_project(tmp, case))
        elif case.kind == "predict":
            path = tmp / "objects.yaml"
            path.write_bytes(
                case.text if isinstance(case.text, bytes) else case.text.encode("utf-8")
            )
            load_cluster([str(path)])
        elif case.kind == "kubeconfig":
            path = tmp / "kubeconfig"
            path.write_bytes(
                case.text if isinstance(case.text, bytes) else case.text.encode("utf-8")
            )
            Cluster(kubeconfig=str(path))
        else:
            value = str(case.text)
            if value == "FIFO":
                value = str(tmp / "fifo")
                os.mkfifo(value)
            elif value == "LOOP":
                value = str(tmp / "loop")
                os.symlink(value, value)
            elif value == "DIR":
                value = str(tmp)
            dest = "netpol_" + case.option.replace("-", "_")
            fake: Any = _FakeConfig(
                {dest: [value] if case.option == "image-pull-secret" else value}
            )
            resolve_options(fake)
    except pytest.UsageError as exc:
        return exc, str(exc)
    except Exception as exc:  # judged below: only HarnessError keeps the promise
        return exc, str(exc)
    return None, ""


def run(case: Case, tmp: Path) -> list[str]:
    """The promises ``case`` breaks (empty when its answer is the promised one)."""
    import pytest

    from harness.errors import HarnessError

    exc, text = answer(case, tmp)
    broken: list[str] = []
    if exc is None:
        return ["accepted"]
    if not isinstance(exc, HarnessError | pytest.UsageError):
        return [f"raised {type(exc).__name__}: {text[:200]}"]
    lines = text.splitlines()
    if any(len(line) > MAX_LINE for line in lines):
        broken.append(f"a line of {max(len(x) for x in lines)} characters")
    if "Traceback" in text or "Error:" in text.replace("ScenarioError", ""):
        broken.append("Python exception text")
    if case.needle not in text:
        broken.append(f"no {case.needle!r} in: {text[:300]}")
    if "fix:" not in lines[0]:
        broken.append(f"no fix: {lines[0][:300]}")
    if len(lines) < case.count:
        broken.append(f"{len(lines)} error lines, want at least {case.count}")
    want = expected_line(case)
    if want is not None and f":{want}: " not in lines[0]:
        broken.append(f"line: want {want}: {lines[0][:200]}")
    return broken
