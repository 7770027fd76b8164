"""Certificates and kubeconfigs of the test cluster, made with `cryptography` (ECDSA P-256: a
whole set takes well under a second, where openssl with RSA keys took seconds).

One CA signs every certificate; the API server trusts client certificates of that CA, and the
identity is the certificate's subject (CN = user, O = groups), as Kubernetes' own bootstrap RBAC
expects: `system:kube-controller-manager`, `system:kube-scheduler`, `system:kube-proxy`,
`system:node:<name>` in `system:nodes`, an admin in `system:masters`.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(days=2)


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


class Authority:
    """The cluster's CA, written to `dir`/ca.crt and ca.key."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = _key()
        now = datetime.datetime.now(datetime.UTC)
        name = _name("govault-k8s-ca")
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + VALID_FOR)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                  False, False), True)
                     .sign(self.key, hashes.SHA256()))
        self.ca = Pair(self.dir / "ca.crt", self.dir / "ca.key")
        self.ca.cert.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        _write_key(self.key, self.ca.key)

    def issue(self, name: str, common_name: str, organization: str | None = None, *,
              client: bool = True, server: bool = False, dns: tuple[str, ...] = (),
              ips: tuple[str, ...] = ()) -> Pair:
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        usages = ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else []) + (
            [ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
        builder = (x509.CertificateBuilder().subject_name(_name(common_name, organization))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + VALID_FOR)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                   .add_extension(x509.KeyUsage(True, False, True, False, False, False, False,
                                                False, False), True)
                   .add_extension(x509.ExtendedKeyUsage(usages), False))
        alt_names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), False)
        cert = builder.sign(self.key, hashes.SHA256())
        pair = Pair(self.dir / f"{name}.crt", self.dir / f"{name}.key")
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, pair.key)
        return pair

    def service_account_keys(self) -> Pair:
        """The key pair service-account tokens are signed (sa.key) and verified (sa.pub) with."""
        key = _key()
        pair = Pair(self.dir / "sa.pub", self.dir / "sa.key")
        pair.cert.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        _write_key(key, pair.key)
        return pair

    def kubeconfig(self, path: Path, server: str, user: str, pair: Pair) -> Path:
        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "default",
            "clusters": [{"name": "govault-k8s", "cluster": {
                "server": server, "certificate-authority-data": b64(self.ca.cert)}}],
            "users": [{"name": user, "user": {"client-certificate-data": b64(pair.cert),
                                              "client-key-data": b64(pair.key)}}],
            "contexts": [{"name": "default", "context": {"cluster": "govault-k8s",
                                                         "user": user}}],
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path
