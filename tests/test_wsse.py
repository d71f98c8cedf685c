"""The UsernameToken the gateway signs with: zeep's, written from a template, fresh per message."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree
from zeep.wsdl.utils import get_or_create_header
from zeep.wsse.username import UsernameToken

from gateway.soap.wsse import DeviceClockToken, security_header
from gateway.soap.xml import NOT_XML, WSSE, WSU

ENVELOPE = b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>'
NOW = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)


def canonical(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n")


def zeeps(username: str, password: str, created: datetime, nonce: bytes) -> etree._Element:
    envelope = etree.fromstring(ENVELOPE)
    token = UsernameToken(username, password, use_digest=True, zulu_timestamp=True,
                          nonce=nonce.decode(), created=created)
    token.apply(envelope, {})
    return envelope


def ours(header: bytes) -> etree._Element:
    envelope = etree.fromstring(ENVELOPE)
    get_or_create_header(envelope).append(etree.fromstring(header))
    return envelope


@pytest.mark.parametrize("username", ["admin", "a&b<c>'\"", "ünï"])
def test_the_header_is_the_one_zeep_writes(username):
    nonce = b"0123456789abcdef"
    offset = timedelta(seconds=-3600)
    header = security_header(username, "pa&ss", offset, now=NOW, nonce=nonce)
    assert canonical(ours(header)) == canonical(zeeps(username, "pa&ss", NOW + offset, nonce))


def test_every_message_has_a_fresh_nonce_and_a_digest_of_it():
    headers = [etree.fromstring(security_header("admin", "secret", timedelta(0)))
               for _ in range(3)]
    nonces = [h.findtext(f".//{{{WSSE}}}Nonce") for h in headers]
    assert len(set(nonces)) == 3
    for header, nonce in zip(headers, nonces, strict=True):
        created = header.findtext(f".//{{{WSU}}}Created")
        assert nonce is not None
        assert created is not None
        expected = hashlib.sha1(  # noqa: S324 (the profile says SHA-1)
            base64.b64decode(nonce) + created.encode() + b"secret").digest()
        assert header.findtext(f".//{{{WSSE}}}Password") == base64.b64encode(expected).decode()


def test_created_is_the_device_clock_in_whole_seconds():
    header = etree.fromstring(security_header("admin", "x", timedelta(minutes=90), now=NOW))
    assert header.findtext(f".//{{{WSU}}}Created") == "2026-03-04T06:36:07Z"
    assert b"secret" not in security_header("admin", "secret", timedelta(0))


def test_a_username_xml_cannot_carry_is_refused_as_lxml_refuses_it():
    with pytest.raises(ValueError, match="XML compatible"):
        security_header("ad\x01min", "x", timedelta(0))


def test_not_xml_is_every_character_outside_xml_s_char_production():
    # XML 1.0's Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
    allowed = [(0x9, 0x9), (0xA, 0xA), (0xD, 0xD), (0x20, 0xD7FF), (0xE000, 0xFFFD),
               (0x10000, 0x10FFFF)]
    every = "".join(map(chr, range(0x110000)))
    assert NOT_XML.findall(every) == [
        c for c in every if not any(low <= ord(c) <= high for low, high in allowed)]
    for c in "\x00\x01\x1f\ud800\udfff\ufffe\uffff":  # and lxml refuses what it finds
        with pytest.raises(ValueError, match=r"XML compatible|surrogates not allowed"):
            etree.Element("x").text = f"a{c}"


def test_the_token_goes_into_the_envelope_header_zeep_built():
    envelope = etree.fromstring(ENVELOPE)
    DeviceClockToken("admin", "x", timedelta(0)).apply(envelope, {})
    assert [etree.QName(e).localname for e in envelope] == ["Header", "Body"]
    assert envelope[0][0].tag == f"{{{WSSE}}}Security"
