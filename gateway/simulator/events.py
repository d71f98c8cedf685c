"""The ONVIF Events service (ver10, tev) and its pull points (WS-BaseNotification, wsnt).

The Events service answers GetEventProperties and CreatePullPointSubscription; each pull point is
then addressed at the device's SUBSCRIPTION path with ?Idx=N, where PullMessages,
SetSynchronizationPoint, Renew and Unsubscribe go.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final

from lxml import etree

from gateway.soap.xml import TEV, TNS1, TT, WSA, WSNT, WSTOP, qname

from .device import SUBSCRIPTION, AccessClass, SimulatedDevice
from .operation import Call, EmptyAnswer, Hangup, Operation, invalid_arg, response
from .pullpoints import INPUT_TOPIC, MOTION_TOPIC, Notification, PullPoint, RawNotification
from .soap import RECEIVER, SENDER, SoapFault, sub

CONCRETE_SET: Final = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
CONCRETE: Final = "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"
ITEM_FILTER: Final = "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"
MESSAGE_SCHEMA: Final = "http://www.onvif.org/onvif/ver10/schema/onvif.xsd"
# A pull point asked for no lifetime lives this long; PullMessages waits at most this long
# (ONVIF: "at least one minute" must be supported).
DEFAULT_LIFETIME: Final = 60.0
MAX_PULL_TIMEOUT: Final = 60.0
_DURATION: Final = re.compile(
    r"P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?")
# Topic -> (source item, data item) of the properties in GetEventProperties.
TOPICS: Final = MappingProxyType({
    MOTION_TOPIC: ("VideoSourceToken", "State"),
    INPUT_TOPIC: ("InputToken", "LogicalState"),
})


def tev(local: str) -> str:
    return qname(TEV, local)


def wsnt(local: str) -> str:
    return qname(WSNT, local)


def xs_datetime(moment: datetime) -> str:
    """An xs:dateTime in UTC, to the second."""
    return moment.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_duration(text: str, name: str) -> float:
    """Seconds of an xs:duration without years and months (PT60S, PT1M, P1DT2H)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or text.strip() in ("P", "PT"):
        raise invalid_arg(f"{name} is not an xs:duration this device takes: {text!r}")
    parts = {key: float(value or 0) for key, value in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def lifetime(device: SimulatedDevice, text: str | None, name: str) -> float:
    """Seconds from now of a wsnt:AbsoluteOrRelativeTimeType: a duration, or a device time."""
    if not text:
        return DEFAULT_LIFETIME
    if text.startswith("P"):
        seconds = parse_duration(text, name)
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise invalid_arg(f"{name} is neither an xs:duration nor an xs:dateTime") from None
        seconds = (moment - device.now()).total_seconds()
    if seconds <= 0:
        raise SoapFault(SENDER, ("InvalidArgVal", "UnacceptableTerminationTime"),
                        f"{name} is not in the future")
    return seconds


def _times(answer: etree._Element, device: SimulatedDevice, point: PullPoint,
           namespace: str, current_first: bool = True) -> None:
    """CurrentTime and TerminationTime (in the device clock, with its reporting error)."""
    if device.event_times_missing:
        return
    now = device.now()
    left = point.expires - device.events.clock()
    ends = now + timedelta(seconds=left + device.termination_time_error)
    pairs = [("CurrentTime", now), ("TerminationTime", ends)]
    for name, moment in pairs if current_first else reversed(pairs):
        sub(answer, qname(namespace, name), xs_datetime(moment))


def get_service_capabilities(call: Call) -> etree._Element:
    """tev:GetServiceCapabilities."""
    answer = response(call)
    capabilities(answer, call.device, tev("Capabilities"))
    return answer


def capabilities(parent: etree._Element, device: SimulatedDevice, tag: str) -> None:
    """A tev:Capabilities element (also GetServices' IncludeCapability)."""
    element = sub(parent, tag)
    element.set("WSSubscriptionPolicySupport", "false")
    element.set("WSPullPointSupport", "false" if device.pull_point_support_denied else "true")
    element.set("WSPausableSubscriptionManagerInterfaceSupport", "false")
    element.set("MaxNotificationProducers", "0")
    element.set("MaxPullPoints", str(device.max_pull_points))
    element.set("PersistentNotificationStorage", "false")


def get_event_properties(call: Call) -> etree._Element:
    """tev:GetEventProperties: the topics this device raises, each a property."""
    answer = response(call)
    sub(answer, tev("TopicNamespaceLocation"),
        "http://www.onvif.org/onvif/ver10/topics/topicns.xml")
    sub(answer, wsnt("FixedTopicSet"), "true")
    topic_set = sub(answer, qname(WSTOP, "TopicSet"))
    for topic, (source, data) in TOPICS.items():
        parent = topic_set
        for part in topic.removeprefix("tns1:").split("/"):
            found = parent.find(qname(TNS1, part))
            parent = found if found is not None else sub(parent, qname(TNS1, part))
        parent.set(qname(WSTOP, "topic"), "true")
        description = sub(parent, qname(TT, "MessageDescription"))
        description.set("IsProperty", "true")
        for tag, name, kind in (("Source", source, "tt:ReferenceToken"),
                                ("Data", data, "xs:boolean")):
            item = sub(sub(description, qname(TT, tag)), qname(TT, "SimpleItemDescription"))
            item.set("Name", name)
            item.set("Type", kind)
    for dialect in (CONCRETE_SET, CONCRETE):
        sub(answer, wsnt("TopicExpressionDialect"), dialect)
    sub(answer, tev("MessageContentFilterDialect"), ITEM_FILTER)
    sub(answer, tev("MessageContentSchemaLocation"), MESSAGE_SCHEMA)
    return answer


def create_pull_point_subscription(call: Call) -> etree._Element:
    """tev:CreatePullPointSubscription: a new pull point, unless max_pull_points are live.

    Filters are accepted and not applied: every pull point gets every notification.
    """
    device = call.device
    seconds = lifetime(device, call.arg("InitialTerminationTime"), "InitialTerminationTime")
    if len(device.events.live()) >= device.max_pull_points:
        device.events.refused += 1
        raise SoapFault(RECEIVER, ("CapabilityViolated", "MaxPullPoints"),
                        f"At most {device.max_pull_points} pull points at a time")
    point = device.events.create(seconds, device.initialized_on_subscribe)
    answer = response(call)
    reference = sub(answer, tev("SubscriptionReference"))
    address = f"{call.xaddr(SUBSCRIPTION)}?Idx={point.id}"
    if device.subscription_port_twice:
        port = f":{call.request.url.port}"
        address = address.replace(port, port + port, 1)
    sub(reference, qname(WSA, "Address"), address)
    _times(answer, device, point, WSNT)
    return answer


def pull_point(call: Call) -> PullPoint:
    """The live pull point a SubscriptionManager request is addressed to (?Idx=N)."""
    point = call.device.events.live().get(_index(call.request.query.get("Idx", "")))
    if point is None:
        # WS-ResourceFramework's ResourceUnknownFault: it ended, expired or never was.
        raise SoapFault(SENDER, ("InvalidArgVal", "ResourceUnknown"),
                        "No such subscription (it ended or expired)")
    return point


def _index(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _message(parent: etree._Element, notification: Notification | RawNotification,
             topic_suffix: str) -> None:
    if isinstance(notification, RawNotification):
        parent.append(etree.fromstring(notification.xml))
        return
    holder = sub(parent, wsnt("NotificationMessage"))
    topic = sub(holder, wsnt("Topic"))
    topic.set("Dialect", CONCRETE_SET)
    topic.text = notification.topic + topic_suffix
    message = sub(sub(holder, wsnt("Message")), qname(TT, "Message"))
    message.set("UtcTime", xs_datetime(notification.utc_time))
    message.set("PropertyOperation", notification.operation)
    for tag, items in (("Source", notification.source), ("Data", notification.data)):
        items_element = sub(message, qname(TT, tag))
        for name, value in items:
            item = sub(items_element, qname(TT, "SimpleItem"))
            item.set("Name", name)
            item.set("Value", value)


async def pull_messages(call: Call) -> etree._Element:
    """tev:PullMessages: what the pull point holds, or wait up to Timeout for something."""
    point = pull_point(call)
    timeout = min(parse_duration(call.required("Timeout"), "Timeout"), MAX_PULL_TIMEOUT)
    limit_text = call.required("MessageLimit")
    if not limit_text.isdigit() or int(limit_text) < 1:
        raise invalid_arg("MessageLimit must be a positive xs:int")
    events = call.device.events
    if call.device.renew_refused:  # kept alive by the pull instead (ONVIF Core 9.1.1)
        point.expires = max(point.expires, events.clock() + timeout)
    wait = min(timeout, point.expires - events.clock())
    if not point.messages and wait > 0:
        try:
            async with asyncio.timeout(wait):
                await point.arrived.wait()
        except TimeoutError:
            pass
    point = pull_point(call)  # it may have ended meanwhile
    if not point.messages and call.device.pull_when_empty != "answer":
        raise Hangup() if call.device.pull_when_empty == "close" else EmptyAnswer()
    answer = response(call)
    _times(answer, call.device, point, TEV)
    for notification in point.take(int(limit_text)):
        _message(answer, notification, call.device.topic_suffix)
    return answer


def set_synchronization_point(call: Call) -> etree._Element:
    """tev:SetSynchronizationPoint: queue every property's value again, as Initialized."""
    call.device.events.synchronize(pull_point(call))
    return response(call)


def renew(call: Call) -> etree._Element:
    """wsnt:Renew: the pull point lives TerminationTime longer (from now)."""
    point = pull_point(call)
    if call.device.renew_refused:
        raise SoapFault(SENDER, ("InvalidArgVal", "ResourceUnknown"),
                        "No such subscription (it ended or expired)")
    point.expires = call.device.events.clock() + lifetime(
        call.device, call.arg("TerminationTime"), "TerminationTime")
    answer = response(call)
    _times(answer, call.device, point, WSNT, current_first=False)
    return answer


def unsubscribe(call: Call) -> etree._Element:
    """wsnt:Unsubscribe: the pull point ends now."""
    call.device.events.drop(pull_point(call).id)
    return response(call)


def check_addressing(device: SimulatedDevice, header: etree._Element | None,
                     address_path: str) -> None:
    """With device.require_addressing: refuse a request without wsa:Action and a wsa:To
    naming this subscription (path and query)."""
    if not device.require_addressing:
        return
    to = action = None
    if header is not None:
        to = header.findtext(qname(WSA, "To"))
        action = header.findtext(qname(WSA, "Action"))
    if not action or not to or not to.strip().endswith(address_path):
        raise SoapFault(SENDER, ("MessageAddressingHeaderRequired",),
                        "A required header representing a Message Addressing Property "
                        "is not present (wsa:To, wsa:Action)")


# Operations of the Events service, by the Clark name of their request element.
EVENT_OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType({
    tev("GetServiceCapabilities"): Operation(AccessClass.READ_MEDIA, get_service_capabilities),
    tev("GetEventProperties"): Operation(AccessClass.READ_MEDIA, get_event_properties),
    tev("CreatePullPointSubscription"): Operation(AccessClass.READ_MEDIA,
                                                  create_pull_point_subscription),
})
# Operations of a pull point's SubscriptionManager address.
SUBSCRIPTION_OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType({
    tev("PullMessages"): Operation(AccessClass.READ_MEDIA, pull_messages),
    tev("SetSynchronizationPoint"): Operation(AccessClass.READ_MEDIA, set_synchronization_point),
    wsnt("Renew"): Operation(AccessClass.READ_MEDIA, renew),
    wsnt("Unsubscribe"): Operation(AccessClass.READ_MEDIA, unsubscribe),
})
