"""The namespace repair on its own: conforming replies untouched, misplaced children renamed."""

from __future__ import annotations

from lxml import etree

from gateway.app import WSDL_DIR, shared_wsdls
from gateway.soap.quirks import ChildNamespaceRepair

REPLY = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">
<s:Body><tds:GetDeviceInformationResponse><!-- a comment -->
<{p}:Manufacturer>A</{p}:Manufacturer><{p}:Model>B</{p}:Model><tt:Unknown>C</tt:Unknown>
</tds:GetDeviceInformationResponse></s:Body></s:Envelope>"""
TDS = "{http://www.onvif.org/ver10/device/wsdl}"
TT = "{http://www.onvif.org/ver10/schema}"


async def test_a_conforming_reply_is_left_as_it_is():
    operation = (await shared_wsdls(WSDL_DIR)).binding("device").get("GetDeviceInformation")
    envelope = etree.fromstring(REPLY.format(p="tds"))
    before = etree.tostring(envelope)
    repair = ChildNamespaceRepair()
    for _ in range(2):  # the second time from what the first worked out
        repair.ingress(envelope, {}, operation)
        assert etree.tostring(envelope) == before


async def test_children_the_response_expects_are_moved_into_its_namespace_only():
    operation = (await shared_wsdls(WSDL_DIR)).binding("device").get("GetDeviceInformation")
    repair = ChildNamespaceRepair()
    for _ in range(2):
        envelope = etree.fromstring(REPLY.format(p="tt"))
        repair.ingress(envelope, {}, operation)
        response = envelope[0][0]
        assert [child.tag for child in response if isinstance(child.tag, str)] == [
            f"{TDS}Manufacturer", f"{TDS}Model", f"{TT}Unknown"]  # nothing unknown let through


async def test_another_operations_reply_is_not_touched():
    operation = (await shared_wsdls(WSDL_DIR)).binding("device").get("GetHostname")
    envelope = etree.fromstring(REPLY.format(p="tt"))
    before = etree.tostring(envelope)
    ChildNamespaceRepair().ingress(envelope, {}, operation)
    assert etree.tostring(envelope) == before
