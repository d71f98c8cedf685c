"""Repairs for the ways real devices bend the ONVIF WSDLs, applied to every answer.

Each repair is narrow, says which quirk it undoes, and leaves a conforming answer untouched.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lxml import etree
from zeep import Plugin

from gateway.soap.xml import SOAP11_ENV, SOAP_ENV, TDS, TIMG, TT, qname

SOAP_BODY = qname(SOAP_ENV, "Body")
# A response element's tag, its children's tags by local name, and the set of those tags.
Expected = tuple[str, dict[str, str], frozenset[str]]


class ChildNamespaceRepair(Plugin):  # type: ignore[misc]
    """Put the children of a response element back in the namespace the WSDL gives them.

    Some firmwares write e.g. tt:Manufacturer inside tds:GetDeviceInformationResponse, where the
    WSDL says tds:Manufacturer; zeep then rejects the whole answer. A child is renamed only when
    its local name is one the response expects, so nothing unknown is let through.
    """

    def __init__(self) -> None:
        # Per operation (they live as long as the parsed WSDLs): the response element's tag, the
        # tags of its children by local name, and those tags. Worked out once: this runs on
        # every reply.
        self._expected: dict[Any, Expected | None] = {}

    def _expectations(self, operation: Any) -> Expected | None:
        if operation not in self._expected:
            output = operation.output.body
            by_name = {} if output is None else {
                etree.QName(child.qname).localname: child.qname.text
                for _, child in getattr(output.type, "elements", [])
                if getattr(child, "qname", None) is not None  # an xs:any has none
            }
            self._expected[operation] = None if output is None else (
                output.qname.text, by_name, frozenset(by_name.values()))
        return self._expected[operation]

    def ingress(self, envelope: Any, http_headers: Any, operation: Any) -> tuple[Any, Any]:
        body = envelope.find(SOAP_BODY)
        if body is None or not len(body) or operation is None:
            return envelope, http_headers
        expectations = self._expectations(operation)
        if expectations is None or body[0].tag != expectations[0]:
            return envelope, http_headers  # a fault, or another element: not ours to repair
        _, expected, conforming = expectations
        for child in body[0]:
            if child.tag in conforming or not isinstance(child.tag, str):
                continue  # as the WSDL says (most replies: nothing to do); comments, PIs
            name = etree.QName(child).localname
            if name in expected:
                child.tag = expected[name]
        return envelope, http_headers


class BooleanDiscoveryModeRepair(Plugin):  # type: ignore[misc]
    """Read an xs:boolean where tt:DiscoveryMode belongs: true is Discoverable.

    A Node.js device answers GetDiscoveryMode with true/false instead of Discoverable or
    NonDiscoverable. The meaning is unambiguous, so it is repaired; writes still send the enum
    and are read back through this same repair.
    """

    MODES: ClassVar[dict[str, str]] = {"true": "Discoverable", "1": "Discoverable",
                                       "false": "NonDiscoverable", "0": "NonDiscoverable"}

    def ingress(self, envelope: Any, http_headers: Any, operation: Any) -> tuple[Any, Any]:
        body = envelope.find(SOAP_BODY)
        if body is None:
            return envelope, http_headers
        for mode in body.iterfind(f"*/{qname(TDS, 'DiscoveryMode')}"):
            repaired = self.MODES.get((mode.text or "").strip())
            if repaired is not None:
                mode.text = repaired
        return envelope, http_headers


class Soap11FaultRepair(Plugin):  # type: ignore[misc]
    """Read a SOAP 1.1 fault (faultcode, faultstring) as the SOAP 1.2 fault ONVIF specifies.

    A Node.js device answers faults in SOAP 1.1, with HTTP 200 and a lower-case soap:client code;
    zeep's SOAP 1.2 binding finds no fault in that. The code's local name is read later (client
    is Sender), so only the shape is changed here.
    """

    def ingress(self, envelope: Any, http_headers: Any, operation: Any) -> tuple[Any, Any]:
        fault = envelope.find(f"{qname(SOAP11_ENV, 'Body')}/{qname(SOAP11_ENV, 'Fault')}")
        if fault is None:
            return envelope, http_headers
        repaired = etree.Element(qname(SOAP_ENV, "Envelope"), nsmap={"env": SOAP_ENV})
        body = etree.SubElement(repaired, SOAP_BODY)
        new_fault = etree.SubElement(body, qname(SOAP_ENV, "Fault"))
        code = etree.SubElement(new_fault, qname(SOAP_ENV, "Code"))
        etree.SubElement(code, qname(SOAP_ENV, "Value")).text = fault.findtext("faultcode")
        reason = etree.SubElement(new_fault, qname(SOAP_ENV, "Reason"))
        etree.SubElement(reason, qname(SOAP_ENV, "Text")).text = fault.findtext("faultstring")
        return repaired, http_headers


class ImagingTokenRepair(Plugin):  # type: ignore[misc]
    """Drop a tt:VideoSourceToken written directly inside the ImagingSettings of a
    GetImagingSettingsResponse or the ImagingOptions of a GetOptionsResponse (imaging, timg).

    Thingino firmware's ONVIF server puts the requested source's token first in both
    (themactep/thingino-onvif, src/imaging_service.c: build_imaging_settings_xml,
    build_imaging_options_xml), where tt:ImagingSettings20 and tt:ImagingOptions20 have no such
    element; zeep then rejects the whole answer. It only repeats the token the request gave.
    Any other reply is passed by one look at its body's first element.
    """

    # a response's tag: its settings (or options) element's tag
    RESPONSES: ClassVar[dict[str, str]] = {
        qname(TIMG, "GetImagingSettingsResponse"): qname(TIMG, "ImagingSettings"),
        qname(TIMG, "GetOptionsResponse"): qname(TIMG, "ImagingOptions")}
    TOKEN: ClassVar[str] = qname(TT, "VideoSourceToken")

    def ingress(self, envelope: Any, http_headers: Any, operation: Any) -> tuple[Any, Any]:
        body = envelope.find(SOAP_BODY)
        if body is None or not len(body):
            return envelope, http_headers
        settings_tag = self.RESPONSES.get(body[0].tag)
        if settings_tag is None:
            return envelope, http_headers  # not an imaging settings or options answer
        for settings in body[0].iterfind(settings_tag):
            for token in settings.findall(self.TOKEN):
                settings.remove(token)
        return envelope, http_headers


# In order: the namespace repair first, so that later ones find elements where the WSDL puts them.
PLUGINS = [Soap11FaultRepair(), ChildNamespaceRepair(), BooleanDiscoveryModeRepair(),
           ImagingTokenRepair()]
