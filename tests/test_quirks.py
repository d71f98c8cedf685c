"""The namespace repair on its own: conforming replies untouched, misplaced children renamed."""

from __future__ import annotations

from lxml import etree

from gateway.app import WSDL_DIR, shared_wsdls
from gateway.soap.quirks import ChildNamespaceRepair, ImagingTokenRepair

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


IMAGING = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:timg="http://www.onvif.org/ver20/imaging/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">
<s:Body><timg:{response}><timg:{holder}>{token}<tt:Brightness>{inner}</tt:Brightness>
</timg:{holder}></timg:{response}></s:Body></s:Envelope>"""
TOKEN = "<tt:VideoSourceToken>video1</tt:VideoSourceToken>"


def test_the_source_token_inside_imaging_settings_and_options_is_dropped():
    # Thingino's ONVIF server writes it first inside both (test_real_devices.py)
    repair = ImagingTokenRepair()
    for response, holder in [("GetImagingSettingsResponse", "ImagingSettings"),
                             ("GetOptionsResponse", "ImagingOptions")]:
        envelope = etree.fromstring(IMAGING.format(response=response, holder=holder,
                                                   token=TOKEN, inner="5"))
        repair.ingress(envelope, {}, None)
        assert [child.tag for child in envelope[0][0][0]] == [f"{TT}Brightness"]


def test_a_source_token_anywhere_else_is_left_for_zeep_to_refuse():
    repair = ImagingTokenRepair()
    for response, holder, token, inner in [
            ("GetImagingSettingsResponse", "ImagingSettings", "", TOKEN),  # deeper
            ("SetImagingSettingsResponse", "ImagingSettings", TOKEN, "5"),  # another answer
            ("GetMoveOptionsResponse", "MoveOptions", TOKEN, "5"),
            ("GetImagingSettingsResponse", "ImagingSettings", "", "5")]:  # conforming
        envelope = etree.fromstring(IMAGING.format(response=response, holder=holder,
                                                   token=token, inner=inner))
        before = etree.tostring(envelope)
        repair.ingress(envelope, {}, None)
        assert etree.tostring(envelope) == before
