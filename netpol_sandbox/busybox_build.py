"""Build the busybox the sandbox's pods run, from Debian's source package (``make deps``).

The pinned client image (curlimages/curl, Alpine based) runs busybox as ``sh`` and as
most of its tools. Debian's busybox binary differs where it matters to the probes:
its ``nc`` is the small one (no ``-u``, no ``-v``, no ``-z``), Alpine's is the
"bloaty" netcat 1.10 clone (``CONFIG_NC_110_COMPAT``). So this script:

1. downloads Debian's busybox source package with ``apt-get source --download-only``
   through a private apt configuration under ``.deps/`` (a ``deb-src`` twin of the
   host's Debian ``deb`` sources; the host's own apt configuration is not changed),
2. unpacks it with ``dpkg-source -x`` (Debian's patches applied),
3. starts from Debian's own configuration of the ``busybox`` binary package
   (``debian/config/pkg/deb``) and applies :data:`CHANGES` (each documented there:
   the options in which Alpine's configuration differs and that an applet the probes
   or a person in the pod uses depends on), runs ``make oldconfig`` and checks that
   every change held,
4. builds it and installs ``busybox``, the final ``busybox.config`` and ``applets``
   (one applet name a line) into ``.deps/busybox/``.

It is idempotent: ``.deps/busybox/stamp`` records the source version and a hash of
the changes; when they match and the binary runs, nothing is done. Run as
``python3 -m netpol_sandbox.busybox_build [--out DIR]`` (stdlib only, no venv).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / ".deps" / "busybox"

#: Applets Alpine's busybox has and Debian's ``busybox`` binary package does not build
#: (Debian leaves them to coreutils, procps, util-linux, psmisc). Login/user
#: management, cron, mail and hardware applets are not added (see docs/sandbox.md).
USER_APPLETS = (
    "INSTALL",
    "COMM",
    "CKSUM",
    "SPLIT",
    "NOHUP",
    "NICE",
    "PRINTENV",
    "PGREP",
    "PKILL",
    "PSTREE",
    "PWDX",
    "FUSER",
    "LSOF",
    "FLOCK",
    "ED",
    "SUM",
    "FSYNC",
    "HD",
    "NMETER",
    "IOSTAT",
    "MPSTAT",
    "PMAP",
    "WHOIS",
    "PSCAN",
    "MOUNTPOINT",
    "TTYSIZE",
    "VOLNAME",
    "KILLALL5",
)

#: Our changes to Debian's configuration: option -> (value, why). A value of None
#: means "not set". Alpine's configuration of its busybox package was read to learn
#: which applets/options the image has; nothing of it is copied.
CHANGES: Mapping[str, tuple[str | None, str]] = {
    "NC_110_COMPAT": (
        "y",
        "the image's nc is the netcat 1.10 clone (nc_bloaty.c): -u, -v/-vv, -z, -n, -w;"
        " Debian builds the small nc (no UDP)",
    ),
    "NC_EXTRA": ("y", "-e/-i/-w/-f of nc (also Debian's default)"),
    "NC_SERVER": ("y", "nc -l (also Debian's default)"),
    "FEATURE_NSLOOKUP_BIG": (
        "y",
        "the image's nslookup queries the server itself (Server:/Address: ip:53 output,"
        " -timeout=, -type=); also Debian's default",
    ),
    "FEATURE_PREFER_IPV4_ADDRESS": ("y", "the image resolves names to IPv4 first"),
    "VERBOSE_RESOLUTION_ERRORS": ("y", "the image's tools say why a name did not resolve"),
    "FEATURE_UNIX_LOCAL": ("y", "nc/wget accept local:PATH addresses as in the image"),
    "FEATURE_AWK_LIBM": ("y", "awk has the math functions (sin, exp, ...) as in the image"),
    "FEATURE_SH_EXTRA_QUIET": ("y", "ash prints no banner, as in the image"),
    "STATIC": (None, "linked against the host's glibc: it runs on the host, not in Alpine"),
    **{
        name: ("y", "an applet the image has that Debian's binary leaves to coreutils/procps")
        for name in USER_APPLETS
    },
}

SOURCE_PACKAGE = "busybox"
DEBIAN_CONFIG = "debian/config/pkg/deb"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def log(message: str) -> None:
    print(f"busybox-build: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ configuration


def apply_changes(config: str, changes: Mapping[str, tuple[str | None, str]]) -> str:
    """Debian's ``.config`` text with each CONFIG_<name> replaced (or appended)."""
    lines = config.splitlines()
    out: list[str] = []
    seen: set[str] = set()
    pattern = re.compile(r"^(?:# )?CONFIG_([A-Za-z0-9_]+)(?:=.*| is not set)$")
    for line in lines:
        m = pattern.match(line)
        if m and m.group(1) in changes:
            name = m.group(1)
            seen.add(name)
            out.append(_config_line(name, changes[name][0]))
        else:
            out.append(line)
    for name, (value, _why) in changes.items():
        if name not in seen:
            out.append(_config_line(name, value))
    return "\n".join(out) + "\n"


def _config_line(name: str, value: str | None) -> str:
    return f"# CONFIG_{name} is not set" if value is None else f"CONFIG_{name}={value}"


def unmet_changes(config: str, changes: Mapping[str, tuple[str | None, str]]) -> list[str]:
    """The changes the final ``.config`` does not carry (kconfig dropped a dependency)."""
    have = set(config.splitlines())
    missing: list[str] = []
    for name, (value, _why) in changes.items():
        line = _config_line(name, value)
        if line not in have and not (value is None and f"CONFIG_{name}=y" not in config):
            missing.append(line)
    return missing


def changes_digest(changes: Mapping[str, tuple[str | None, str]] = CHANGES) -> str:
    body = json.dumps({k: v[0] for k, v in sorted(changes.items())}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


# ------------------------------------------------------------------ apt sources


def deb_src_sources(texts: Mapping[str, str], codename: str) -> str:
    """A deb822 ``deb-src`` sources file for the Debian archives the host uses for ``deb``.

    ``texts`` maps file names (``debian.sources``, ``sources.list``) to their text.
    Only Debian archives (signed by the Debian archive keyring, or an URI with
    ``debian`` in it) are kept; without any, deb.debian.org for ``codename``.
    """
    stanzas: list[str] = []
    for name, text in sorted(texts.items()):
        if name.endswith(".sources"):
            for block in re.split(r"\n\s*\n", text):
                fields = _deb822(block)
                if "deb" not in fields.get("types", "").split() or not _is_debian(fields):
                    continue
                stanzas.append(
                    "Types: deb-src\n"
                    f"URIs: {fields.get('uris', '')}\n"
                    f"Suites: {fields.get('suites', '')}\n"
                    f"Components: {fields.get('components', 'main')}\n"
                    f"Signed-By: {fields.get('signed-by', KEYRING)}\n"
                )
        elif name.endswith(".list"):
            for line in text.splitlines():
                parts = line.split("#", 1)[0].split()
                if len(parts) < 4 or parts[0] != "deb":
                    continue
                options = ""
                if parts[1].startswith("["):
                    end = next(i for i, p in enumerate(parts) if p.endswith("]"))
                    options = " ".join(parts[1 : end + 1])
                    parts = [parts[0], *parts[end + 1 :]]
                if "debian" not in parts[1] and KEYRING not in options:
                    continue
                stanzas.append(
                    f"Types: deb-src\nURIs: {parts[1]}\nSuites: {parts[2]}\n"
                    f"Components: {' '.join(parts[3:])}\nSigned-By: {KEYRING}\n"
                )
    if not stanzas:
        stanzas.append(
            f"Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: {codename}\n"
            f"Components: main\nSigned-By: {KEYRING}\n"
        )
    return "\n".join(stanzas)


def _deb822(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in block.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0].isspace() and key:
            fields[key] += " " + line.strip()
            continue
        if ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
    return fields


def _is_debian(fields: Mapping[str, str]) -> bool:
    return KEYRING in fields.get("signed-by", "") or "debian" in fields.get("uris", "")


def host_sources() -> dict[str, str]:
    texts: dict[str, str] = {}
    etc = Path("/etc/apt")
    candidates = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*"))]
    for path in candidates:
        if path.suffix in (".list", ".sources") and path.is_file():
            texts[path.name] = path.read_text(errors="replace")
    return texts


def codename() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return "bookworm"
    m = re.search(r"^VERSION_CODENAME=(\S+)", text, re.M)
    return m.group(1).strip('"') if m else "bookworm"


# ------------------------------------------------------------------ build


def _run(argv: list[str], cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-25:]
        raise SystemExit(f"busybox-build: {' '.join(argv[:4])} failed:\n" + "\n".join(tail))
    return proc.stdout


def _apt_options(apt: Path) -> list[str]:
    return [
        "-o",
        f"Dir::Etc::SourceList={apt / 'sources.list'}",
        "-o",
        f"Dir::Etc::SourceParts={apt / 'parts'}",
        "-o",
        f"Dir::State::Lists={apt / 'lists'}",
        "-o",
        f"Dir::Cache={apt / 'cache'}",
        "-o",
        "APT::Sandbox::User=root",
    ]


def fetch_source(work: Path) -> Path:
    """Download and unpack Debian's busybox source package; returns the source tree."""
    apt = work / "apt"
    for sub in ("parts", "lists/partial", "cache/archives/partial"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    # deb822 content in a file apt reads as SourceList: name it .sources
    sources = apt / "parts" / "deb-src.sources"
    sources.write_text(deb_src_sources(host_sources(), codename()))
    (apt / "sources.list").write_text("# see parts/deb-src.sources\n")
    options = _apt_options(apt)
    log("apt-get update (deb-src, private lists under .deps/)")
    _run(["apt-get", *options, "update", "-qq"])
    download = work / "download"
    if download.exists():
        shutil.rmtree(download)
    download.mkdir()
    log("apt-get source --download-only busybox")
    _run(["apt-get", *options, "source", "--download-only", SOURCE_PACKAGE], cwd=download)
    dscs = sorted(download.glob(f"{SOURCE_PACKAGE}_*.dsc"))
    if not dscs:
        raise SystemExit("busybox-build: apt-get source downloaded no .dsc")
    tree = work / "src"
    if tree.exists():
        shutil.rmtree(tree)
    _run(["dpkg-source", "--no-check", "-x", str(dscs[-1]), str(tree)])
    return tree


def source_version(tree: Path) -> str:
    first = (tree / "debian" / "changelog").read_text().splitlines()[0]
    m = re.match(r"^\S+ \(([^)]+)\)", first)
    return m.group(1) if m else first


def build(tree: Path, jobs: int) -> tuple[Path, str]:
    """Configure (Debian's config + CHANGES) and build; returns (binary, final config)."""
    debian_config = (tree / DEBIAN_CONFIG).read_text()
    (tree / ".config").write_text(apply_changes(debian_config, CHANGES))
    env = {**os.environ, "KCONFIG_NOTIMESTAMP": "1"}
    subprocess.run(
        ["make", "oldconfig"],
        cwd=tree,
        input="\n" * 2000,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    final = (tree / ".config").read_text()
    missing = unmet_changes(final, CHANGES)
    if missing:
        raise SystemExit(f"busybox-build: the configuration did not keep: {missing}")
    log(f"make -j{jobs} busybox")
    _run(["make", f"-j{jobs}", "busybox"], cwd=tree, env=env)
    return tree / "busybox", final


def stamp_text(version: str) -> str:
    return json.dumps({"source": version, "changes": changes_digest()}, sort_keys=True) + "\n"


def up_to_date(out: Path) -> bool:
    binary = out / "busybox"
    try:
        stamp = json.loads((out / "stamp").read_text())
    except (OSError, ValueError):
        return False
    if stamp.get("changes") != changes_digest() or not os.access(binary, os.X_OK):
        return False
    proc = subprocess.run(
        [str(binary), "nc", "--help"], capture_output=True, text=True, check=False
    )
    return "-u" in proc.stdout + proc.stderr


def install(binary: Path, config: str, version: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "busybox.new"
    shutil.copy2(binary, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, out / "busybox")
    (out / "busybox.config").write_text(config)
    applets = _run([str(out / "busybox"), "--list"])
    (out / "applets").write_text(applets)
    (out / "stamp").write_text(stamp_text(version))


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--work", type=Path, default=None, help="default: OUT/../busybox-build")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(list(argv) if argv is not None else None)
    out: Path = args.out.resolve()
    if not args.force and up_to_date(out):
        log(f"{out}/busybox is up to date")
        return 0
    work: Path = (args.work or out.parent / "busybox-build").resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tree = fetch_source(work)
    version = source_version(tree)
    binary, config = build(tree, args.jobs)
    install(binary, config, version, out)
    shutil.rmtree(tree, ignore_errors=True)
    log(f"built busybox {version} into {out} in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
