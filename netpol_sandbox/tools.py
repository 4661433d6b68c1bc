"""What a container finds on its PATH: the image's tools, and nothing else.

Each sandbox gets a runtime directory ``/run/netpol-sandbox/<id>/`` (mode 0755, so
containers running as a non-root uid reach it; the state dir may be private) with a
copy of the busybox built by ``make deps`` (:mod:`netpol_sandbox.busybox_build`)
and one ``bin/<kind>/`` per image kind: ``busybox`` (a hard link of that copy)
and a relative symlink to it per applet (less :data:`HOST_APPLETS`), and the
image's own programs (curl for curlimages/curl; the nginx wrapper for the nginx
images). A container's PATH is
exactly that directory: ``command -v bash python3 perl ncat socat`` finds nothing.

nginx: the images build the stream module in; Debian ships it as a dynamic module
(libnginx-mod-stream), so the wrapper adds its ``load_module`` line when the
configuration has a ``stream`` block.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Where ``make deps`` installs the busybox build; NETPOL_SANDBOX_BUSYBOX overrides.
BUILT_BUSYBOX = ROOT / ".deps" / "busybox" / "busybox"
RUNTIME_ROOT = Path("/run/netpol-sandbox")
CURL = shutil.which("curl") or "/usr/bin/curl"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"

#: Applets left off every PATH: they act on the host (one kernel, one filesystem,
#: one pid space: the pod is only a network namespace), not on a container.
HOST_APPLETS = frozenset(
    {
        "acpid",
        "adjtimex",
        "blkdiscard",
        "blockdev",
        "chroot",
        "chvt",
        "deallocvt",
        "depmod",
        "devmem",
        "fdisk",
        "freeramdisk",
        "fsfreeze",
        "fstrim",
        "getty",
        "halt",
        "hwclock",
        "i2cdetect",
        "i2cdump",
        "i2cget",
        "i2cset",
        "i2ctransfer",
        "ifdown",
        "ifup",
        "init",
        "insmod",
        "killall",
        "killall5",
        "klogd",
        "linuxrc",
        "loadfont",
        "loadkmap",
        "login",
        "losetup",
        "mdev",
        "mkdosfs",
        "mke2fs",
        "mkswap",
        "modprobe",
        "mount",
        "nsenter",
        "nuke",
        "openvt",
        "partprobe",
        "pivot_root",
        "pkill",
        "poweroff",
        "rdate",
        "reboot",
        "resume",
        "rmmod",
        "run-init",
        "setkeycodes",
        "start-stop-daemon",
        "swapoff",
        "swapon",
        "switch_root",
        "sysctl",
        "syslogd",
        "ubirename",
        "udhcpc",
        "udhcpd",
        "uevent",
        "umount",
        "unshare",
        "watchdog",
    }
)

#: the `nginx` on an nginx container's PATH: a private prefix and error log, `user`
#: lines dropped when not root (nginx ignores them then anyway, with a warning), the
#: stream module loaded when the configuration uses it (the images have it built in).
NGINX_WRAPPER = """\
#!/bin/sh
# netpol-harness sandbox: the image's nginx (stream module built in) from Debian's
# nginx + libnginx-mod-stream, with a private prefix.
conf=""
n=$#
while [ "$n" -gt 0 ]; do
  a=$1; shift; n=$((n - 1))
  if [ "$a" = "-c" ] && [ "$n" -gt 0 ]; then conf=$1; shift; n=$((n - 1)); continue; fi
  if [ "$a" = "-p" ] || [ "$a" = "-e" ]; then shift; n=$((n - 1)); continue; fi
  set -- "$@" "$a"
done
[ -n "$conf" ] || conf=$NPH_PRIV/default.conf
{
  if grep -q '^[[:space:]]*stream[[:space:]]*[{]' "$conf" &&
    ! grep -q 'ngx_stream_module' "$conf"; then
    echo "load_module STREAM_MODULE;"
  fi
  grep -v '^[[:space:]]*user[[:space:]]' "$conf"
} > "$NPH_PRIV/nginx.conf" || exit 1
exec NGINX -p "$NPH_PRIV/" -e "$NPH_PRIV/error.log" -c "$NPH_PRIV/nginx.conf" "$@"
"""


def sctp_available() -> bool:
    """Whether this kernel speaks SCTP (``modprobe sctp``; then /proc/net/sctp exists)."""
    if Path("/proc/net/sctp").exists():
        return True
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
    except OSError:
        return False
    return True


def busybox_path() -> Path:
    return Path(os.environ.get("NETPOL_SANDBOX_BUSYBOX") or BUILT_BUSYBOX)


def host_problems() -> list[str]:
    """What the host lacks to give pods their images' tools (empty: all there)."""
    problems: list[str] = []
    busybox = busybox_path()
    if not os.access(busybox, os.X_OK):
        problems.append(f"{busybox} is missing: run `make deps` (builds busybox as the image's)")
    else:
        proc = subprocess.run(
            [str(busybox), "nc", "--help"], capture_output=True, text=True, check=False
        )
        if "-u" not in proc.stdout + proc.stderr:
            problems.append(f"{busybox} has no UDP nc (not the image's build): run `make deps`")
    if not os.access(CURL, os.X_OK):
        problems.append("curl is missing: run `make apt`")
    if not os.access(NGINX, os.X_OK):
        problems.append("nginx is missing: run `make apt`")
    if not STREAM_MODULE.exists():
        problems.append(f"{STREAM_MODULE} is missing (libnginx-mod-stream): run `make apt`")
    if not os.access(SETPRIV, os.X_OK):
        problems.append("setpriv is missing (util-linux)")
    return problems


def applets(busybox: Path) -> list[str]:
    listed = busybox.parent / "applets"
    if listed.exists() and busybox == BUILT_BUSYBOX:
        text = listed.read_text()
    else:
        text = subprocess.run(
            [str(busybox), "--list"], capture_output=True, text=True, check=True
        ).stdout
    return sorted({a for a in text.split() if a and a not in HOST_APPLETS})


def runtime_dir(sandbox_id: str) -> Path:
    return RUNTIME_ROOT / sandbox_id


def write_runtime(sandbox_id: str, kinds: tuple[str, ...]) -> Path:
    """``/run/netpol-sandbox/<id>/`` with busybox and ``bin/<kind>/`` for each kind."""
    root = runtime_dir(sandbox_id)
    if root.exists():
        shutil.rmtree(root)
    RUNTIME_ROOT.mkdir(mode=0o755, exist_ok=True)
    root.mkdir(mode=0o755)
    busybox = root / "busybox"
    shutil.copy2(busybox_path(), busybox)
    busybox.chmod(0o755)
    names = applets(busybox_path())
    for kind in kinds:
        d = root / "bin" / kind
        d.mkdir(parents=True)
        # relative links to a hard link in the same directory: the nginx containers see
        # this directory at /var/lib/nginx/bin, with /run covered by their private /run
        os.link(busybox, d / "busybox")
        for name in names:
            if name != "busybox":
                (d / name).symlink_to("busybox")
        if kind == "curl":
            (d / "curl").symlink_to(CURL)
        if kind == "nginx":
            wrapper = d / "nginx"
            wrapper.write_text(
                NGINX_WRAPPER.replace("STREAM_MODULE", str(STREAM_MODULE)).replace("NGINX", NGINX)
            )
            wrapper.chmod(0o755)
    for d in (root, root / "bin"):
        d.chmod(0o755)
    return root


def remove_runtime(sandbox_id: str) -> bool:
    root = runtime_dir(sandbox_id)
    if not sandbox_id or not root.exists():
        return False
    shutil.rmtree(root, ignore_errors=True)
    return True
