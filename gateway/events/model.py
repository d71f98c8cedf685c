"""The gateway's event: one ONVIF notification in a normalised JSON shape, and topic filters.

    {"device", "time", "topic", "source": {...}, "key": {...}, "data": {...}, "operation", "kind"}

`topic` is the raw topic as the device sent it (e.g. "tns1:VideoSource/MotionAlarm"); `kind` names
the common ones (motion, tamper, input, ...), matched on the topic without namespace prefixes, so
that a client need not know every vendor's spelling. The gateway's own events (a subscription lost
or restored, a client disconnected) have the same shape, topic "gateway/...", and no operation.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from lxml import etree

from gateway.soap.xml import TT, WSNT

# The kind of a topic: the first pattern (on the topic without prefixes) that matches, else
# "other". ONVIF's own topics (ONVIF Core, Appendix "Notification topics") and the spellings
# cameras commonly use for the same thing.
KINDS: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind) for pattern, kind in (
        (r"^VideoSource/MotionAlarm$", "motion"),
        (r"^RuleEngine/(CellMotionDetector|MotionRegionDetector)/Motion$", "motion"),
        # (Ajax: tns1:RuleEngine/tnsajax:MotionDetector/Detection, onvif-parsers' ajax.py and
        # its vector tests/test_ajax.py)
        (r"^RuleEngine/MotionDetector/Detection$", "motion"),
        # (Axis: VMD 4 tnsaxis:CameraApplicationPlatform/VMD/Camera1Profile1, VMD 3
        # tns1:RuleEngine/tnsaxis:VMD3/vmd3_video_1, the PIR sensor tns1:Device/tnsaxis:Sensor/PIR;
        # and below its tampering, audio level, virtual inputs and guard applications: the
        # messages of Kane610/axis' tests/event_fixtures.py)
        (r"^(CameraApplicationPlatform/VMD/|RuleEngine/VMD3/|Device/Sensor/PIR$)", "motion"),
        (r"^VideoAnalytics/Motion", "motion"),
        (r"^VideoSource/GlobalSceneChange/", "tamper"),
        # (Tapo: tns1:RuleEngine/CellMotionDetector/Tamper, in onvif-parsers' tapo.py)
        (r"^RuleEngine/(TamperDetector/|[^/]+/Tamper$)", "tamper"),
        (r"^VideoSource/(ImageTooBlurry|ImageTooDark|ImageTooBright)/", "tamper"),
        (r"^VideoSource/Tampering$", "tamper"),
        (r"^VideoSource/SignalLoss$", "video-loss"),
        # (Hikvision: tns1:Device/Trigger/tnshik:AlarmIn, in onvif-parsers' hikvision.py)
        (r"^Device/Trigger/(DigitalInput|AlarmIn)$", "input"),
        (r"^Device/IO/(VirtualPort|VirtualInput|Port)$", "input"),
        (r"^Device/Trigger/Relay$", "relay"),
        (r"^Device/HardwareFailure/", "hardware"),
        (r"^(AudioAnalytics/Audio/|AudioSource/TriggerLevel$)", "audio"),
        (r"^RuleEngine/(FieldDetector|LineDetector)/", "analytics"),
        (r"^RuleEngine/", "analytics"),
        # (Uniview IPC2124LR3-PF40M-D: tns1:UserAlarm/IVA/HumanShapeDetect, a person detection;
        # home-assistant/core#175055, its parser from #125335, onvif-parsers' uncategorized.py)
        (r"^UserAlarm/IVA/", "analytics"),
        (r"^CameraApplicationPlatform/(FenceGuard|LoiteringGuard|MotionGuard|ObjectAnalytics)/",
         "analytics"),
        (r"^(Configuration|Media/ConfigurationChanged|Media/ProfileChanged)", "configuration"),
        (r"^Monitoring/", "monitoring"),
    ))
GATEWAY_TOPIC: Final = "gateway/"
# Topics (without prefixes) under which a device tells several properties of one source, each
# message one of them, named by its Data item: a TP-Link Tapo's smart detections (IsPeople,
# IsVehicle, IsPet, ... under one rule: onvif-parsers' Tapo test vectors; Home Assistant names
# each sensor by the item, parsers/tapo.py). Such a property is the topic and its item's name.
PER_ITEM_TOPICS: Final = re.compile(
    r"^RuleEngine/(CellMotionDetector/TpSmartEvent|TPSmartEventDetector/TPSmartEvent)$",
    re.IGNORECASE)


def bare_topic(topic: str) -> str:
    """A topic without namespace prefixes: tns1:RuleEngine/tnsaxis:X -> RuleEngine/X. Trailing
    slashes and dots go too: some cameras send "tns1:RuleEngine/CellMotionDetector/Motion//."
    (Home Assistant's onvif integration strips them, event.py) for the topic without them."""
    return "/".join(part.rpartition(":")[2]
                    for part in topic.strip().rstrip("/.").lstrip("/").split("/"))


def kind_of(topic: str) -> str:
    bare = bare_topic(topic)
    for pattern, kind in KINDS:
        if pattern.search(bare):
            return kind
    return "other"


def _items(message: etree._Element, part: str) -> dict[str, str]:
    """A Source's or Data's items by name: a SimpleItem's value, an ElementItem's content as
    XML (a thermal camera's radiometry Reading, ONVIF Analytics' Radiometry topics)."""
    items = {}
    for item in message.iterfind(f"{{{TT}}}{part}/*"):
        name = item.get("Name")
        if name is None:
            continue
        if item.tag == f"{{{TT}}}SimpleItem":
            items[name] = str(item.get("Value", ""))
        elif item.tag == f"{{{TT}}}ElementItem":
            items[name] = "".join(_xml(child) for child in item.iterchildren(etree.Element))
    return items


def _xml(element: etree._Element) -> str:
    """An element as XML declaring only the namespaces it uses (not the envelope's)."""
    element = copy.deepcopy(element)
    etree.cleanup_namespaces(element)
    return etree.tostring(element, encoding="unicode", with_tail=False)


def _topic(holder: Mapping[str, Any], message: etree._Element | None) -> str:
    # zeep drops the text of wsnt:Topic (mixed content): read it from the XML the message sits in.
    if message is not None:
        notification = message.getparent()
        notification = notification.getparent() if notification is not None else None
        if notification is not None:
            text = notification.findtext(f"{{{WSNT}}}Topic")
            if text:
                return text.strip()
    topic = holder.get("Topic") or {}
    return str(topic.get("_value_1") or "") if isinstance(topic, Mapping) else ""


def from_notification(device: str, holder: Mapping[str, Any]) -> dict[str, Any] | None:
    """The event of one wsnt:NotificationMessage (as DeviceClient returns it), or None when it
    holds no tt:Message the gateway can read."""
    message = (holder.get("Message") or {}).get("_value_1")
    if not isinstance(message, etree._Element) or etree.QName(message).localname != "Message":
        return None
    topic = _topic(holder, message)
    return {
        "device": device,
        "time": message.get("UtcTime") or now(),
        "topic": topic,
        "source": _items(message, "Source"),
        # ONVIF's message format: a Key tells apart the instances of one source's property,
        # such as the objects a field detector sees (a Hikvision DS-2CD2387G2-LSU/SL's
        # ObjectsInside, each object's ObjectId: danielwoz/ubiquiti-protect-onvif-event-listener
        # #33 quotes its message)
        "key": _items(message, "Key"),
        "data": _items(message, "Data"),
        "operation": message.get("PropertyOperation"),
        "kind": kind_of(topic),
    }


def gateway_event(device: str, name: str, kind: str, **data: Any) -> dict[str, Any]:
    """An event of the gateway's own (subscription lost or restored, client disconnected)."""
    return {"device": device, "time": now(), "topic": GATEWAY_TOPIC + name, "source": {},
            "key": {}, "data": data, "operation": None, "kind": kind}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def property_key(event: Mapping[str, Any]) -> tuple[str, str, tuple[tuple[str, str], ...],
                                                  tuple[tuple[str, str], ...]]:
    """What identifies a property: its device, topic, source and key (GET /events/state); and
    its Data item's name, under a topic of PER_ITEM_TOPICS."""
    topic = bare_topic(event["topic"])
    if PER_ITEM_TOPICS.match(topic):
        topic += "/" + ",".join(sorted(event["data"]))
    return (event["device"], topic, tuple(sorted(event["source"].items())),
            tuple(sorted(event["key"].items())))


class TopicFilter:
    """A `topic` query: comma-separated kinds (motion) or topics (tns1:VideoSource, prefixes
    optional); a topic matches a term equal to it or to one of its leading parts. Empty: all."""

    def __init__(self, text: str | None) -> None:
        self.terms = [t for t in (bare_topic(p) for p in (text or "").split(",")) if t]

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, event: Mapping[str, Any]) -> bool:
        if not self.terms or event["topic"].startswith(GATEWAY_TOPIC):
            return True  # the gateway's own events concern the stream itself: always sent
        topic = bare_topic(event["topic"])
        return any(term == event["kind"] or term == topic or topic.startswith(term + "/")
                   for term in self.terms)
