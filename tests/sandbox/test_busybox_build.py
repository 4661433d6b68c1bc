"""The busybox build of `make deps`: our changes on Debian's config, the deb-src twin."""

from __future__ import annotations

import subprocess

import pytest

from netpol_sandbox import busybox_build as bb
from netpol_sandbox import tools

DEBIAN = """\
CONFIG_NC=y
CONFIG_NC_EXTRA=y
# CONFIG_NC_110_COMPAT is not set
CONFIG_STATIC=y
CONFIG_ASH=y
"""


def test_changes_replace_or_append_and_are_checked() -> None:
    changes = {"NC_110_COMPAT": ("y", "why"), "STATIC": (None, "why"), "NEW": ("y", "why")}
    text = bb.apply_changes(DEBIAN, changes)
    lines = text.splitlines()
    assert "CONFIG_NC_110_COMPAT=y" in lines and "# CONFIG_NC_110_COMPAT is not set" not in lines
    assert "# CONFIG_STATIC is not set" in lines and "CONFIG_ASH=y" in lines
    assert lines[-1] == "CONFIG_NEW=y"
    assert bb.unmet_changes(text, changes) == []
    assert bb.unmet_changes(DEBIAN, changes) == [
        "CONFIG_NC_110_COMPAT=y",
        "# CONFIG_STATIC is not set",
        "CONFIG_NEW=y",
    ]


def test_every_change_has_a_reason_and_the_digest_follows_them() -> None:
    assert all(why for _value, why in bb.CHANGES.values())
    assert bb.CHANGES["NC_110_COMPAT"][0] == "y"
    assert bb.changes_digest() == bb.changes_digest(dict(bb.CHANGES))
    assert bb.changes_digest({**bb.CHANGES, "X": ("y", "")}) != bb.changes_digest()


def test_deb_src_twin_of_the_hosts_debian_sources() -> None:
    texts = {
        "debian.sources": (
            "Types: deb\n# a comment\nURIs: http://mirror.example/debian\n"
            "Suites: bookworm bookworm-updates\nComponents: main\n"
            f"Signed-By: {bb.KEYRING}\n\n"
            "Types: deb\nURIs: https://vendor.example/apt\nSuites: stable\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/vendor.gpg\n"
        ),
        "sources.list": "deb http://security.debian.org/debian-security bookworm-security main\n",
        "other.list": "deb [signed-by=/x.gpg] https://vendor.example/apt stable main\n",
    }
    text = bb.deb_src_sources(texts, "bookworm")
    assert text.count("Types: deb-src") == 2
    assert "URIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates" in text
    assert "debian-security" in text and "vendor.example" not in text
    fallback = bb.deb_src_sources({}, "trixie")
    assert "URIs: http://deb.debian.org/debian\nSuites: trixie" in fallback


@pytest.mark.skipif(not bb.DEFAULT_OUT.joinpath("busybox").exists(), reason="run `make deps`")
def test_the_built_busybox_is_the_images_kind() -> None:
    binary = str(bb.DEFAULT_OUT / "busybox")
    proc = subprocess.run([binary, "nc", "--help"], capture_output=True, text=True, check=False)
    usage = proc.stderr
    assert "-u\tUDP mode" in usage and "-v\tVerbose" in usage
    config = (bb.DEFAULT_OUT / "busybox.config").read_text().splitlines()
    assert bb.unmet_changes("\n".join(config), bb.CHANGES) == []
    applets = set(tools.applets(bb.DEFAULT_OUT / "busybox"))
    assert {"sh", "nc", "nslookup", "timeout", "date", "pgrep", "nohup"} <= applets
    assert not applets & tools.HOST_APPLETS
    assert bb.up_to_date(bb.DEFAULT_OUT)  # a rerun of `make busybox` does nothing
