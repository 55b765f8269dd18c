"""Examples and docs name hosts under `.example` (RFC 2606), never a routable address: a user who
copies an example must not send SSH or Ray connections to machines that belong to somebody."""

import ipaddress
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
IPV4 = re.compile(r"(?<![\d.])(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?![\d.])")
FILES = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("inventory/*.yaml"),
         *ROOT.glob("suites/*.yaml"), *ROOT.glob("tests/inventory/*.py")]


def _routable(text: str) -> list[str]:
    found = []
    for match in IPV4.findall(text):
        try:
            ip = ipaddress.ip_address(match)
        except ValueError:
            continue  # a version number such as 10.16.1.11
        if not (ip.is_loopback or ip.is_unspecified or ip.is_link_local):
            found.append(match)
    return found


def test_examples_and_docs_name_no_routable_address():
    bad = {str(f.relative_to(ROOT)): _routable(f.read_text()) for f in FILES}
    assert {k: v for k, v in bad.items() if v} == {}


def test_the_check_finds_a_private_address():
    assert _routable("host: 10.0.0.21, ray://192.168.1.2:10001, 127.0.0.1") == ["10.0.0.21", "192.168.1.2"]
