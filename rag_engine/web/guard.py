"""The address guard: the server never fetches loopback, private, link-local or metadata addresses.

Checked after DNS resolution (a public name can point at 10.0.0.1) and on every redirect hop,
and the connection then goes to the address that was checked (no second lookup an attacker's
DNS could answer differently). ``allow_private=True`` (operator setting
WEB_ALLOW_PRIVATE_ADDRESSES, for intranets and tests) lets non-public addresses through, or only
those in ``allowed_networks`` (WEB_ALLOWED_NETWORKS), but never the cloud metadata endpoints.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Iterable, List, Union

from .errors import UnsafeURLError

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")}
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address (else ``ip``)."""
    if ip.version == 6:
        if ip.ipv4_mapped:
            return ip.ipv4_mapped
        if ip.sixtofour:
            return ip.sixtofour
        if ip.teredo:
            return ip.teredo[1]
        if ip in NAT64:
            return ipaddress.ip_address(int(ip) & 0xFFFFFFFF)
    return ip


def refusal(ip: IPAddress, allow_private: bool, allowed_networks: Iterable[str] = ()) -> str:
    """Why ``ip`` must not be fetched ("" when it may)."""
    ip = embedded_ipv4(ip)
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_unspecified or ip.is_multicast:
        return "not a host address"
    if allow_private or any(ip in ipaddress.ip_network(n, strict=False) for n in allowed_networks):
        return ""
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private or not ip.is_global or ip.is_reserved:
        return "a private or internal address"
    return ""


def resolve(host: str, port: int, allow_private: bool, allowed_networks: Iterable[str] = ()) -> str:
    """The address to connect to for ``host``: every address it resolves to must be allowed."""
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise UnsafeURLError(f"The host name {host} could not be resolved.") from None
    addresses: List[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    for address in addresses:
        why = refusal(address, allow_private, allowed_networks)
        if why:
            raise UnsafeURLError(f"{host} resolves to {why}; the server does not fetch internal addresses.")
    if not addresses:
        raise UnsafeURLError(f"The host name {host} could not be resolved.")
    return str(addresses[0])
