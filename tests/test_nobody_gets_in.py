"""Nobody gets in: events only for the factories served, tokens only to Azure's hosts, no huge number or invisible
character that breaks a parser or hides in a name or a log line.

Forged events go through the real ``on_run_completed`` (azure.functions' converter, the local host) onto Azurite,
with the local Data Factory counting the calls they cost; endpoints are judged by the functions the service builds
its clients with, before any token is asked for; huge integers go through every parser of outside text, and a
poison queue holding one through the operator's commands.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import unicodedata
import uuid
from collections.abc import Iterator

import pytest
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum
from azure.storage.queue import QueueClient

from lineage.azure.queues import Queues
from lineage.cli import doctor
from lineage.cli.main import main
from lineage.extract import redact as redaction
from lineage.extract.jsontext import JSONTextError, loads
from lineage.extract.runrecord import FactoryId, RunRecord, RunRecordError
from lineage.extract.stores import naming
from lineage.local.azurite import Azurite
from lineage.local.credential import LocalCredential
from lineage.local.host import HostSettings
from lineage.local.stack import TOPIC, LocalStack, local_stack
from lineage.service import wiring
from lineage.service.events import (
    EVENT_TYPE,
    RESERVED_EVENT_IDS,
    EventError,
    RunRef,
    WorkMessage,
    cloud_event,
    event_grid_event,
    run_ref,
)
from lineage.service.poison import PoisonEnvelope, read_poison
from lineage.service.worker import Outcome, Processed
from tests.hostile import simple_copy_record

SERVED = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.DataFactory/factories/adf-served"
OTHER = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.DataFactory/factories/adf-other"
RUN = "2f7fdb90-5df1-4b8e-ac2f-064cfa58202b"
HUGE = "9" * 5_000  # json.loads raises a bare ValueError beyond sys.get_int_max_str_digits() (4,300)
SERVED_ENV = {"LINEAGE_FACTORIES": json.dumps([SERVED])}
FAST_HOST = HostSettings(max_dequeue_count=3, visibility_timeout_s=1, batch_size=32)
INVISIBLE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


def data(factory: str = SERVED, run_id: str = RUN) -> dict[str, str]:
    return {"runId": run_id, "factoryId": factory}


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Iterator[list[str]]:
    handler = _Lines()
    logger = logging.getLogger("lineage")
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)


@pytest.fixture
def refused(monkeypatch: pytest.MonkeyPatch) -> wiring.RefusedEvents:
    """A fresh refusal counter with a clock the test moves."""
    clock = [1_000.0]
    counter = wiring.RefusedEvents(interval_s=300, clock=lambda: clock[0])
    counter.clock = clock  # type: ignore[attr-defined]
    monkeypatch.setattr(wiring, "REFUSED", counter)
    return counter


# ------------------------------------------------------------------------------------- events: whose, which, what id


def test_an_event_for_a_served_factory_is_queued_and_one_for_another_is_refused_not_poisoned(
        refused: wiring.RefusedEvents) -> None:
    ok = wiring.accept_event("e-1", data(SERVED), env=SERVED_ENV)
    assert ok.work is not None and ok.poison is None and ok.refused is None
    assert WorkMessage.from_json(ok.work).run.factory.resource_id == SERVED
    # ARM compares resource ids without regard to case; so does the allow-list.
    assert wiring.accept_event("e-2", data(SERVED.upper().replace("SUBSCRIPTIONS", "subscriptions")),
                               env=SERVED_ENV).work is not None
    other = wiring.accept_event("e-3", data(OTHER), env=SERVED_ENV)
    assert (other.work, other.poison) == (None, None)
    assert other.refused == "for a factory this service does not serve"
    assert refused.total == {"for a factory this service does not serve": 1}


def test_with_an_allow_list_an_event_that_names_no_factory_is_refused_and_a_bad_one_for_ours_poisoned(
        refused: wiring.RefusedEvents) -> None:
    for garbage in (None, "not json", {"runId": RUN}, {"runId": RUN, "factoryId": "x"}, "[" * 20_000):
        accepted = wiring.accept_event("e", garbage, env=SERVED_ENV)
        assert (accepted.work, accepted.poison, accepted.refused) == (None, None, "naming no factory")
    ours = wiring.accept_event("e", data(SERVED, run_id="../etc"), env=SERVED_ENV)
    assert ours.poison is not None and read_poison(ours.poison).error_class == "EventError"
    # Without an allow-list, today's behaviour: the malformed event is poisoned with its reason.
    assert wiring.accept_event("e", {"runId": RUN}, env={}).poison is not None


@pytest.mark.parametrize("event_id", [*sorted(RESERVED_EVENT_IDS), "Replay", " backfill "])
def test_an_event_cannot_carry_an_id_of_our_own_producers(event_id: str, refused: wiring.RefusedEvents) -> None:
    """A 'replay' or 'backfill' message gets past the worker's memory of poisoned runs: only we may send one."""
    for env in ({}, SERVED_ENV):
        accepted = wiring.accept_event(event_id, data(SERVED), env=env)
        assert (accepted.work, accepted.poison) == (None, None)
        assert accepted.refused == "with an id reserved for the service's own messages"


def test_an_event_of_another_type_is_refused_when_the_caller_says_its_type(refused: wiring.RefusedEvents) -> None:
    assert wiring.accept_event("e", data(), event_type="Microsoft.Storage.BlobCreated", env={}).refused \
        == "of another event type"
    assert wiring.accept_event("e", data(), event_type=EVENT_TYPE, env={}).work is not None
    assert wiring.accept_event("e", data(), env={}).work is not None  # a caller that does not know the type


@pytest.mark.parametrize("schema", ["Event Grid", "CloudEvents"])
def test_accept_reads_the_type_of_what_the_functions_converter_hands_over(schema: str,
                                                                          refused: wiring.RefusedEvents) -> None:
    ref = RunRef(FactoryId.parse(SERVED), RUN)
    for event_type, landing in ((EVENT_TYPE, "work"), ("Contoso.Other", "refused")):
        payload = event_grid_event("e-1", ref, topic=TOPIC) if schema == "Event Grid" else cloud_event("e-1", ref)
        payload["eventType" if schema == "Event Grid" else "type"] = event_type
        event = EventGridEventInConverter.decode(Datum(type="json", value=json.dumps(payload)), trigger_metadata={})
        accepted = wiring.accept(event)
        assert ("work" if accepted.work else "refused" if accepted.refused else "poison") == landing


def test_refusals_are_counted_and_logged_once_per_interval(refused: wiring.RefusedEvents,
                                                           lines: list[str]) -> None:
    clock: list[float] = refused.clock  # type: ignore[attr-defined]
    for index in range(200):
        wiring.accept_event(f"forged-{index}", data(OTHER), env=SERVED_ENV)
    summaries = [line for line in lines if line.startswith("refused ")]
    assert summaries == [summaries[0]] and summaries[0].startswith("refused 1 event(s)")  # the first, at once
    assert OTHER in summaries[0]  # an example, so the operator sees which factory
    clock[0] += 301
    wiring.accept_event("forged-last", data(OTHER), env=SERVED_ENV)
    summaries = [line for line in lines if line.startswith("refused ")]
    assert len(summaries) == 2 and summaries[1].startswith("refused 200 event(s)")
    assert refused.total["for a factory this service does not serve"] == 201
    wiring.accept_event("forged-after", data(OTHER), env=SERVED_ENV)
    refused.flush()  # what the reconcile timer does on every pass
    assert [line for line in lines if line.startswith("refused ")][2].startswith("refused 1 event(s)")
    refused.flush()  # nothing pending: nothing logged
    assert len([line for line in lines if line.startswith("refused ")]) == 3


def test_every_reconcile_pass_logs_the_refusals_counted_since_the_last_line(refused: wiring.RefusedEvents,
                                                                           lines: list[str]) -> None:
    wiring.accept_event("a", data(OTHER), env=SERVED_ENV)
    wiring.accept_event("b", data(OTHER), env=SERVED_ENV)
    assert len([line for line in lines if line.startswith("refused ")]) == 1
    wiring.reconcile({})  # no factories: it returns at once, after the flush
    assert [line for line in lines if line.startswith("refused ")][-1].startswith("refused 1 event(s)")


def test_an_empty_allow_list_accepts_any_factory_and_says_so_once(monkeypatch: pytest.MonkeyPatch,
                                                                   lines: list[str]) -> None:
    monkeypatch.setattr(wiring, "_open_warned", threading.Event())
    assert wiring.accept_event("e-1", data(OTHER), env={}).work is not None
    assert wiring.accept_event("e-2", data(SERVED), env={}).work is not None
    warnings = [line for line in lines if "LINEAGE_FACTORIES is empty" in line]
    assert len(warnings) == 1 and "any factory" in warnings[0]
    checks = {c.name: c for c in doctor._settings({})}
    assert "ANY factory" in checks["events accepted"].detail
    assert "only for the 1 factories" in {c.name: c for c in doctor._settings(SERVED_ENV)}["events accepted"].detail


def test_a_malformed_allow_list_fails_the_invocation_so_event_grid_keeps_the_event() -> None:
    with pytest.raises(wiring.SettingsError, match="LINEAGE_FACTORIES"):
        wiring.accept_event("e", data(), env={"LINEAGE_FACTORIES": "[not json"})


@pytest.fixture(scope="module")
def stack(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    runs = tmp_path_factory.mktemp("nobody-runs")
    with local_stack(runs, host_settings=FAST_HOST, azurite=azurite,
                     queue_name=f"nobody-{uuid.uuid4().hex[:12]}",
                     env={"LINEAGE_MAX_DEQUEUE_COUNT": str(FAST_HOST.max_dequeue_count)}) as running:
        yield running


def test_two_hundred_forged_events_cost_no_read_no_poison_and_one_log_line(
        stack: LocalStack, monkeypatch: pytest.MonkeyPatch, refused: wiring.RefusedEvents,
        lines: list[str]) -> None:
    """The issue's attack: anyone with the function's Event Grid key posts events for a factory we do not serve."""
    record = simple_copy_record("nobody: served")
    stack.adf.put_run(record)
    monkeypatch.setenv("LINEAGE_FACTORIES", json.dumps([record["factory"]]))
    processed: list[Processed] = []
    stack.worker.listeners.append(processed.append)
    requests_before = sum(stack.adf.stats.values())
    try:
        for index in range(200):
            stack.host.deliver(event_grid_event(f"forged-{index}", RunRef(FactoryId.parse(OTHER), RUN), topic=TOPIC))
        assert stack.host.pending() == 0  # nothing was queued
        assert stack.queues.poison.get_queue_properties().approximate_message_count == 0
        stack.host.drain(timeout_s=5, idle_sleep_s=0.05)
        assert sum(stack.adf.stats.values()) == requests_before  # not one Data Factory call for them
        served = RunRef(FactoryId.parse(record["factory"]), record["pipelineRun"]["runId"])
        stack.host.deliver(cloud_event("real-1", served))
        stack.host.drain(timeout_s=30, idle_sleep_s=0.05)
    finally:
        stack.worker.listeners.remove(processed.append)
    assert [p.outcome for p in processed] == [Outcome.PUSHED]  # only the served factory's run was read
    assert refused.total["for a factory this service does not serve"] == 200
    assert len([line for line in lines if line.startswith("refused ")]) == 1
    assert not [line for line in lines if " rejected: " in line]  # the poison alert's line: not one


# ----------------------------------------------------------------------------------------- tokens: HTTPS, Azure's hosts


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://contoso.purview.azure.com/datamap/api/atlas/v2", True),
    ("https://contoso.purview.azure.us/catalog/api/atlas/v2", True),
    ("https://contoso.purview.azure.cn/datamap/api/atlas/v2", True),
    ("https://127.0.0.1:8444/datamap/api/atlas/v2", True),  # the local stand-in (its own CA)
    ("https://[::1]:8444/datamap/api/atlas/v2", True),
    ("https://localhost:8444/datamap/api/atlas/v2", True),
    ("http://contoso.purview.azure.com/datamap/api/atlas/v2", False),  # the token in clear
    ("http://127.0.0.1:8444/datamap/api/atlas/v2", False),
    ("https://contoso.purview.azure.com.evil.example/datamap", False),
    ("https://evilpurview.azure.com/datamap", False),  # a suffix is a whole label
    ("https://purview.example/datamap", False),
    ("https://user:pw@contoso.purview.azure.com/datamap", False),
    ("ftp://contoso.purview.azure.com/", False),
    ("contoso.purview.azure.com", False),
])
def test_purview_endpoint_must_be_https_to_a_purview_host(url: str, allowed: bool) -> None:
    env = {"PURVIEW_ENDPOINT": url}
    if allowed:
        assert wiring.purview_endpoint(env) == url.rstrip("/")
    else:
        with pytest.raises(wiring.SettingsError, match="PURVIEW_ENDPOINT"):
            wiring.purview_endpoint(env)


def test_an_account_name_cannot_smuggle_another_host() -> None:
    assert wiring.purview_endpoint({"PURVIEW_ACCOUNT_NAME": "contoso"}).startswith("https://contoso.purview.azure.com/")
    with pytest.raises(wiring.SettingsError):
        wiring.purview_endpoint({"PURVIEW_ACCOUNT_NAME": "evil.example/x#"})


def test_more_host_suffixes_come_from_the_setting_and_must_look_like_suffixes() -> None:
    env = {"PURVIEW_ENDPOINT": "https://lineage.purview.contoso.example/datamap/api/atlas/v2"}
    with pytest.raises(wiring.SettingsError, match="LINEAGE_ALLOWED_HOST_SUFFIXES"):
        wiring.purview_endpoint(env)
    for setting in ("purview.contoso.example", '["other.example", "purview.contoso.example"]'):
        assert wiring.purview_endpoint({**env, "LINEAGE_ALLOWED_HOST_SUFFIXES": setting})
    for bad in ("example", "*.example.com", "https://x.example", "a..b"):
        with pytest.raises(wiring.SettingsError, match="LINEAGE_ALLOWED_HOST_SUFFIXES"):
            wiring.allowed_host_suffixes({"LINEAGE_ALLOWED_HOST_SUFFIXES": bad})


def test_data_factory_endpoint_must_be_https_to_resource_manager() -> None:
    assert wiring.datafactory_endpoint({}) == "https://management.azure.com"
    assert wiring.datafactory_endpoint({"DATAFACTORY_ENDPOINT": "https://management.usgovcloudapi.net/"}) \
        == "https://management.usgovcloudapi.net"
    for bad in ("http://management.azure.com", "https://management.azure.com.evil.example"):
        with pytest.raises(wiring.SettingsError, match="DATAFACTORY_ENDPOINT"):
            wiring.datafactory_endpoint({"DATAFACTORY_ENDPOINT": bad})


def test_no_token_is_asked_for_before_the_endpoints_are_judged() -> None:
    credential = LocalCredential()
    for env in ({"PURVIEW_ENDPOINT": "http://contoso.purview.azure.com/datamap/api/atlas/v2"},
                {"PURVIEW_ACCOUNT_NAME": "contoso", "DATAFACTORY_ENDPOINT": "http://management.azure.com"}):
        with pytest.raises(wiring.SettingsError):
            wiring.build_worker(credential, env, queues=_NoQueue())
    assert credential.requests == 0
    checks = {c.name: c for c in doctor._settings({"PURVIEW_ENDPOINT": "http://x.purview.azure.com/",
                                                   "DATAFACTORY_ENDPOINT": "http://management.azure.com"})}
    assert not checks["PURVIEW_ACCOUNT_NAME / PURVIEW_ENDPOINT"].ok and "https://" in \
        checks["PURVIEW_ACCOUNT_NAME / PURVIEW_ENDPOINT"].detail
    assert not checks["DATAFACTORY_ENDPOINT"].ok


class _NoQueue:
    def send(self, text: str, visibility_timeout: int = 0) -> None:
        raise AssertionError("not used")

    def send_poison(self, text: str) -> None:
        raise AssertionError("not used")


@pytest.mark.parametrize(("endpoint", "code"), [
    ("https://lineage.westeurope-1.eventgrid.azure.net/api/events", 0),
    ("https://lineage.usgovvirginia-1.eventgrid.azure.us/api/events", 0),
    ("http://lineage.westeurope-1.eventgrid.azure.net/api/events", 1),
    ("https://collector.evil.example/api/events", 1),
    ("https://lineage.westeurope-1.eventgrid.azure.net.evil.example/api/events", 1),
])
def test_wrap_posts_only_to_an_event_grid_topic_over_https(endpoint: str, code: int,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wrap", "--factory", SERVED, "--pipeline", "Load", "--topic-endpoint", endpoint,
                 "--web-activity", "Last"]) == code
    out, err = capsys.readouterr()
    if code == 0:
        [publish] = [a for a in json.loads(out) if a["type"] == "WebActivity"]
        assert publish["typeProperties"]["url"] == endpoint
    else:
        assert out == "" and "--topic-endpoint" in err


# --------------------------------------------------------------------------------------- huge integers, every parser


def test_the_json_reader_names_every_way_json_loads_fails() -> None:
    with pytest.raises(ValueError, match="4300"):  # what json.loads itself raises: not a JSONDecodeError
        json.loads(HUGE)
    cases: dict[str | bytes, str] = {
        HUGE: "integer of more than 4,300 digits", f'{{"a": [{HUGE}]}}': "integer of more than",
        "[" * 100_000: "nested too deeply", b"\xff{": "not UTF-8", "{": "is not JSON:"}
    for text, reason in cases.items():
        with pytest.raises(JSONTextError, match=reason) as raised:
            loads(text)
        assert isinstance(raised.value, ValueError) and len(str(raised.value)) < 120  # never the text itself


def test_huge_integers_are_bad_input_in_events_messages_records_and_poison() -> None:
    with pytest.raises(EventError, match="integer of more than"):
        run_ref(f'{{"runId": {HUGE}}}')
    with pytest.raises(EventError, match=r"work message .*integer of more than"):
        WorkMessage.from_json(f'{{"v": 1, "waits": {HUGE}}}')
    with pytest.raises(RunRecordError, match=r"run record .*integer of more than"):
        RunRecord.from_text(f'{{"factory": "{SERVED}", "pipelineRun": {{"runId": {HUGE}}}, "activityRuns": []}}')
    accepted = wiring.accept_event("e-huge", f'{{"runId": "{RUN}", "factoryId": "{SERVED}", "n": {HUGE}}}', env={})
    assert accepted.poison is not None and accepted.work is None
    assert "integer of more than 4,300 digits" in read_poison(accepted.poison).reason


@pytest.mark.parametrize("encoded", [False, True])
def test_a_poison_body_with_a_huge_integer_is_shown_as_unreadable_with_its_reason(encoded: bool) -> None:
    body = f'{{"poison": 1, "message": "x", "attempts": {HUGE}}}'
    envelope = read_poison(base64.b64encode(body.encode()).decode() if encoded else body)
    assert envelope.message == body  # kept whole: replay puts it back as it was
    assert "integer of more than 4,300 digits" in envelope.reason
    assert envelope.run_id is None and envelope.attempts == 0


def test_envelope_fields_of_the_wrong_type_are_not_taken_at_face_value() -> None:
    for attempts in ("5", -1, 10**12, 2.5, [5], True):
        body = json.dumps({"poison": 1, "message": "m", "attempts": attempts, "runId": {"x": 1}, "errorClass": 7})
        envelope = read_poison(body)
        assert (envelope.attempts, envelope.run_id, envelope.error_class) == (0, None, "Unknown")


def test_the_poison_commands_list_show_replay_and_purge_a_body_with_a_huge_integer(
        azurite: Azurite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"huge-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.delenv("AzureWebJobsStorage__queueServiceUri", raising=False)
    monkeypatch.setenv("LINEAGE_QUEUE_NAME", name)
    queues = Queues.connect(name, connection_string=azurite.connection_string)
    queues.create()
    try:
        raw = QueueClient.from_connection_string(azurite.connection_string, name + "-poison")
        huge = f'{{"v": 1, "factory": "{SERVED}", "runId": "{RUN}", "waits": {HUGE}}}'
        raw.send_message(base64.b64encode(huge.encode()).decode())  # as the host moves a body
        raw.send_message(huge)  # as stored by hand, not encoded
        queues.send_poison(PoisonEnvelope(message="{}", error_class="EventError", reason="ok", attempts=1,
                                          first_seen="", last_failure="").to_json())
        assert main(["poison", "list", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)["messages"]
        assert len(listed) == 3
        unreadable = [m for m in listed if "integer of more than" in m["reason"]]
        assert len(unreadable) == 2
        assert main(["poison", "list"]) == 0 and capsys.readouterr().out.count("HostPoison") == 2
        assert main(["poison", "show", unreadable[0]["id"], "--json"]) == 0
        assert "integer of more than" in json.loads(capsys.readouterr().out)["reason"]
        assert main(["poison", "replay", unreadable[0]["id"]]) == 0  # back as it was: it fails the same way
        [back] = queues.work.receive_messages()
        assert back.content.decode() == huge
        assert main(["poison", "purge", "--all", "--yes"]) == 0
        assert "purged 2 message(s)" in capsys.readouterr().out
    finally:
        for client in (queues.work, queues.poison):
            client.delete_queue()


def test_a_work_message_with_a_huge_integer_is_poisoned_on_its_first_attempt(stack: LocalStack) -> None:
    processed: list[Processed] = []
    stack.worker.listeners.append(processed.append)
    try:
        stack.queues.send(f'{{"v": 1, "factory": "{SERVED}", "runId": "{RUN}", "waits": {HUGE}}}')
        stack.host.drain(timeout_s=30, idle_sleep_s=0.05)
    finally:
        stack.worker.listeners.remove(processed.append)
    assert [p.outcome for p in processed] == [Outcome.POISONED]  # once: not retried as a defect of ours
    assert "integer of more than 4,300 digits" in processed[0].detail
    envelopes = [read_poison(str(m.content)) for m in stack.queues.poison.receive_messages(max_messages=32)]
    assert [e.error_class for e in envelopes] == ["EventError"]


# ---------------------------------------------------------------------------- invisible characters: names and log lines


def _invisible() -> list[str]:
    return [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in INVISIBLE_CATEGORIES]


def test_names_refuse_every_control_format_separator_and_surrogate_character_of_unicode() -> None:
    """Checked against the running interpreter's Unicode database, not a hand-made list."""
    invisible = _invisible()
    assert len(invisible) > 2_000
    missed = [f"U+{ord(c):04X}" for c in invisible if naming.unsafe_character(f"a{c}b") is None]
    assert missed == []
    # Beyond those, only characters this Unicode version has not assigned yet (Cf in a later one).
    extra = [c for c in map(chr, range(0x110000)) if naming.unsafe_character(c) and c not in set(invisible)]
    assert all(unicodedata.category(c) == "Cn" for c in extra), [f"U+{ord(c):04X}" for c in extra]
    assert naming.unsafe_character("data\u200b.csv") == "an invisible character (U+200B)"
    assert naming.unsafe_character("a\u2028b") == "a line separator (U+2028)"
    assert naming.unsafe_character("plain name, é and 中文") is None
    with pytest.raises(naming.StoreError, match=r"U\+FEFF"):
        naming.name_part("\ufefftable", "table")


def test_redacted_text_shows_every_invisible_character_as_an_escape() -> None:
    text = "".join(_invisible())
    escaped = redaction.redact(text)
    assert not any(unicodedata.category(c) in INVISIBLE_CATEGORIES for c in escaped)
    assert redaction.redact("run 1\nERROR forged line\u2028x\u202e") == "run 1\\nERROR forged line\\u2028x\\u202e"


def test_a_rejected_event_logs_and_stores_no_invisible_character(lines: list[str]) -> None:
    accepted = wiring.accept_event("evt\u2028ERROR: forged\u200b", data(run_id="bad\nid"), env={})
    assert accepted.poison is not None
    for text in [*lines, accepted.poison, read_poison(accepted.poison).reason]:
        assert not any(unicodedata.category(c) in ("Cf", "Zl", "Zp") for c in text), repr(text)
    assert any("\\u2028" in line and " rejected: " in line for line in lines)

