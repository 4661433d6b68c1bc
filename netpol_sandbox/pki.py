"""The sandbox API's TLS material: its own CA and a server certificate for 127.0.0.1.

Generated at ``sandbox up`` with the ``openssl`` CLI (EC P-256, fast) into
``STATE/pki/``: ``ca.crt``, ``ca.key``, ``server.crt``, ``server.key``. The CA goes into the
kubeconfig as ``certificate-authority-data``; clients verify the server against it (the
certificate has IP SAN 127.0.0.1 and DNS SAN localhost), as they do on a real cluster.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from netpol_sandbox.errors import ConfigError

_SERVER_EXT = (
    "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=serverAuth\n"
    "subjectKeyIdentifier=hash\n"
    "authorityKeyIdentifier=keyid,issuer\n"
)


@dataclass(frozen=True)
class Pki:
    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()

    def server_context(self) -> ssl.SSLContext:
        """The listening side: TLS 1.2+, the server certificate and key."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.server_cert, self.server_key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only this CA (for the CLI and tests)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def _openssl(*args: str, cwd: Path) -> None:
    try:
        subprocess.run(
            ["openssl", *args],
            cwd=cwd,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except FileNotFoundError as exc:
        raise ConfigError(
            "the sandbox API serves TLS and needs the openssl command "
            "(fix: apt-get install openssl, or pass --insecure-http)"
        ) from exc
    except subprocess.CalledProcessError as exc:
        raise ConfigError(f"openssl {args[0]} failed: {exc.stderr.strip()}") from exc


def generate(directory: Path, days: int = 3650) -> Pki:
    """A fresh CA and server certificate in ``directory`` (replacing any old ones)."""
    if shutil.which("openssl") is None:
        raise ConfigError(
            "the sandbox API serves TLS and needs the openssl command "
            "(fix: apt-get install openssl, or pass --insecure-http)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req",
        "-x509",
        "-new",
        *curve,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        str(days),
        "-subj",
        "/CN=netpol-sandbox-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    _openssl(
        "req",
        "-new",
        *curve,
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=netpol-sandbox-apiserver",
        cwd=directory,
    )
    (directory / "server.ext").write_text(_SERVER_EXT)
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "0x" + os.urandom(8).hex(),
        "-days",
        str(days),
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
        cwd=directory,
    )
    for name in ("server.csr", "server.ext"):
        (directory / name).unlink(missing_ok=True)
    for name in ("ca.key", "server.key"):
        os.chmod(directory / name, 0o600)
    return Pki(directory)
