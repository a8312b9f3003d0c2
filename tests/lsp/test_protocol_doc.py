"""docs/protocol.md stays true to the code: every example is checked against the models.

Marked examples in the doc (an HTML comment just above a fenced block):

    <!-- request: modelwire/x -->       a JSON-RPC request; params validate against x's model
    <!-- result: modelwire/x -->        a response; result validates against x's result model
    <!-- error: modelwire/x -->         a response; error.data.code is a real ErrorCode
    <!-- notification: modelwire/runEvent -->   one run event
    <!-- sequence -->                   a ```text block of `→ {json}` / `← {json}` lines

Plain pytest: no sidecar is started. Since wire models ignore unknown fields, the test
also rejects any key an example uses that its model does not declare (a typo in the
doc would otherwise validate silently).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from modelwire import protocol as p
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.run_events import EVENT_BODIES

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_DOC = ROOT / "docs" / "protocol.md"
SETTINGS_DOC = ROOT / "docs" / "settings.md"
SERVER_SRC = ROOT / "server" / "modelwire"

PARAMS: dict[str, type[BaseModel]] = {
    p.LIST_PROVIDERS: p.ListProvidersParams,
    p.REGISTER_PROVIDER: p.RegisterProviderParams,
    p.LIST_CONNECTIONS: p.ListConnectionsParams,
    p.CREATE_CONNECTION: p.CreateConnectionParams,
    p.UPDATE_CONNECTION: p.UpdateConnectionParams,
    p.DELETE_CONNECTION: p.ConnectionIdParams,
    p.SET_SECRET: p.SetSecretParams,
    p.DELETE_SECRET: p.DeleteSecretParams,
    p.TEST_CONNECTION: p.TestConnectionParams,
    p.LIST_MODELS: p.ListModelsParams,
    p.PULL_MODEL: p.PullModelParams,
    p.LIST_AGENTS: p.ListAgentsParams,
    p.START_RUN: p.StartRunParams,
    p.CANCEL_RUN: p.CancelRunParams,
    p.LIST_RUNS: p.ListRunsParams,
    p.GET_RUN: p.GetRunParams,
    p.GET_RUN_REQUESTS: p.GetRunRequestsParams,
    p.STATUS: p.StatusParams,
    p.WARM_UP: p.WarmUpParams,
}

RESULTS: dict[str, type[BaseModel]] = {
    p.LIST_PROVIDERS: p.ListProvidersResult,
    p.REGISTER_PROVIDER: p.ProviderDescriptor,
    p.LIST_CONNECTIONS: p.ListConnectionsResult,
    p.CREATE_CONNECTION: p.Connection,
    p.UPDATE_CONNECTION: p.Connection,
    p.DELETE_CONNECTION: p.DeleteConnectionResult,
    p.SET_SECRET: p.SecretResult,
    p.DELETE_SECRET: p.SecretResult,
    p.TEST_CONNECTION: p.HealthResult,
    p.LIST_MODELS: p.ListModelsResult,
    p.PULL_MODEL: p.PullModelResult,
    p.LIST_AGENTS: p.ListAgentsResult,
    p.START_RUN: p.RunRecord,
    p.CANCEL_RUN: p.CancelRunResult,
    p.LIST_RUNS: p.ListRunsResult,
    p.GET_RUN: p.RunRecord,
    p.GET_RUN_REQUESTS: p.GetRunRequestsResult,
    p.STATUS: p.StatusResult,
    p.WARM_UP: p.WarmUpResult,
}

# Fields each run event carries beyond runId/seq/kind (the models in run_events.py).
EVENT_FIELDS: dict[str, set[str]] = {
    "queued": {"position", "connectionId"},
    "started": {"routing"},
    "loading": {"waitedMs"},
    "retry": {"reason", "delayMs"},
    "delta": {"text"},
    "step": {"step", "tool", "target", "outcome"},
    "error": {"code", "message", "hint", "retryable"},
    "end": {"status", "finishReason", "usage", "timings", "errorCode", "notice"},
}
# Fields some events of a kind carry (the embedded model's start says why it waits).
EVENT_OPTIONAL: dict[str, set[str]] = {
    "loading": {"reason"},
    "step": {"childRunId", "errorCode", "durationMs", "summary"},
}


NOTIFICATIONS = (p.RUN_EVENT, p.DID_CHANGE_CONNECTIONS)


def method_constants() -> set[str]:
    return {
        value
        for name, value in vars(p).items()
        if name.isupper() and isinstance(value, str) and value.startswith("modelwire/")
    }


# --- reading the doc ----------------------------------------------------------------

_BLOCK = re.compile(
    r"<!--\s*(?P<kind>request|result|error|notification|sequence)(?::\s*(?P<method>\S+?))?\s*-->"
    r"\s*\n```(?P<lang>\w+)\n(?P<body>.*?)\n```",
    re.S,
)


@dataclass(frozen=True)
class Example:
    kind: str
    method: str | None
    lang: str
    body: str
    line: int

    def __str__(self) -> str:
        return f"{self.kind}: {self.method} (docs/protocol.md line {self.line})"

    def json(self) -> Any:
        return json.loads(self.body)


def doc_text() -> str:
    return PROTOCOL_DOC.read_text(encoding="utf-8")


def examples(kind: str | None = None) -> list[Example]:
    text = doc_text()
    found = [
        Example(m["kind"], m["method"], m["lang"], m["body"], text.count("\n", 0, m.start()) + 1)
        for m in _BLOCK.finditer(text)
    ]
    return [e for e in found if kind is None or e.kind == kind]


def ids(items: list[Example]) -> list[str]:
    return [str(e) for e in items]


# --- checking ------------------------------------------------------------------------


def unknown_keys(instance: BaseModel, data: Any, where: str = "") -> Iterator[str]:
    """Keys in `data` the model does not declare, walking nested models and lists."""
    if not isinstance(data, dict):
        return
    fields = type(instance).model_fields
    by_alias = {(f.alias or name): name for name, f in fields.items()}
    for key, value in data.items():
        if key not in by_alias:
            yield f"{where}{key}"
            continue
        attr = getattr(instance, by_alias[key])
        if isinstance(attr, BaseModel):
            yield from unknown_keys(attr, value, f"{where}{key}.")
        elif isinstance(attr, list) and isinstance(value, list):
            for i, (item, raw) in enumerate(zip(attr, value, strict=False)):
                if isinstance(item, BaseModel):
                    yield from unknown_keys(item, raw, f"{where}{key}[{i}].")


def validate_params(method: str, params: Any) -> None:
    model = PARAMS[method]
    data = {} if params is None else params
    assert isinstance(data, dict), f"{method}: params must be an object"
    instance = model.model_validate(data)
    extra = list(unknown_keys(instance, data))
    assert not extra, f"{method}: params use fields the model does not declare: {extra}"


def validate_result(method: str, result: Any) -> None:
    model = RESULTS[method]
    instance = model.model_validate(result)
    extra = list(unknown_keys(instance, result))
    assert not extra, f"{method}: result uses fields the model does not declare: {extra}"
    if isinstance(instance, p.HealthResult) and instance.error is not None:
        assert instance.error["code"] in ErrorCode.__members__


def validate_error(error: Any, method: str | None = None) -> None:
    assert isinstance(error, dict) and {"code", "message"} <= error.keys()
    if error["code"] == -32800 and "data" not in error:
        return  # a cancelled request: pygls' own answer carries no data
    data = error.get("data")
    if data is None:
        # Standard LSP/JSON-RPC failures (-32600, -32601, -32700) have no data.
        assert error["code"] in (-32600, -32601, -32602, -32700), error
        return
    assert {"code", "message", "hint", "retryable"} <= data.keys(), data
    assert data["code"] in ErrorCode.__members__, f"{data['code']} is not an ErrorCode"
    code = ErrorCode(data["code"])
    assert error["code"] == ModelWireError(code, "x").rpc_code, (
        f"{code}: JSON-RPC code {error['code']}, the code maps it to "
        f"{ModelWireError(code, 'x').rpc_code}"
    )
    assert error["message"] == data["message"], "error.message repeats data.message"
    assert isinstance(data["retryable"], bool)
    if code is not ErrorCode.RATE_LIMITED:  # insufficient_quota is the documented exception
        assert data["retryable"] == ModelWireError(code, "x").retryable, code


def validate_event(event: Any) -> None:
    assert {"runId", "seq", "kind"} <= event.keys(), event
    kind = event["kind"]
    assert kind in get_args(p.RunEventKind), f"unknown event kind {kind!r}"
    assert isinstance(event["seq"], int) and event["seq"] >= 1
    missing = EVENT_FIELDS[kind] - event.keys()
    assert not missing, f"{kind} event lacks {missing}"
    if kind != "error":  # error events also carry connectionId/providerId and extras
        allowed = EVENT_FIELDS[kind] | EVENT_OPTIONAL.get(kind, set())
        extra = event.keys() - allowed - {"runId", "seq", "kind", "parentRunId"}
        assert not extra, f"{kind} event has undocumented fields {extra}"
    if kind == "started":
        p.Routing.model_validate(event["routing"])
    elif kind == "end":
        assert event["status"] in get_args(p.RunStatus)
        p.Timings.model_validate(event["timings"])
        if event["usage"] is not None:
            p.RunUsage.model_validate(event["usage"])
        if event["errorCode"] is not None:
            assert event["errorCode"] in ErrorCode.__members__
    elif kind == "error":
        assert event["code"] in ErrorCode.__members__
    elif kind == "retry":
        assert event["reason"] in ErrorCode.__members__
    elif kind == "queued":
        assert isinstance(event["position"], int) and event["position"] >= 1


# --- the tests ------------------------------------------------------------------------


def test_every_json_block_in_the_doc_is_valid_json() -> None:
    text = doc_text()
    for m in re.finditer(r"```json\n(.*?)\n```", text, re.S):
        line = text.count("\n", 0, m.start()) + 1
        try:
            json.loads(m[1])
        except ValueError as exc:
            pytest.fail(f"docs/protocol.md line {line}: {exc}")


def test_the_method_maps_cover_every_method_constant() -> None:
    requests = method_constants() - set(NOTIFICATIONS)
    assert set(PARAMS) == requests
    assert set(RESULTS) == requests


def test_the_method_maps_agree_with_the_server_registrations() -> None:
    """Where the LSP front door pairs a method constant with a params model, it is ours."""
    pairs: dict[str, str] = {}
    for path in (SERVER_SRC / "lsp").glob("*.py"):
        for m in re.finditer(r"p\.([A-Z_]+)\s*,\s*p\.(\w+Params)\b", path.read_text()):
            pairs[getattr(p, m[1])] = m[2]
    if not pairs:
        pytest.fail("the server registers its handlers some other way: update this test")
    for method, model_name in pairs.items():
        assert PARAMS[method].__name__ == model_name, method


@pytest.mark.parametrize("method", sorted(method_constants()))
def test_every_method_has_a_section_and_examples(method: str) -> None:
    assert re.search(rf"^#+ .*`{re.escape(method)}`", doc_text(), re.M), (
        f"no section heading for {method}"
    )
    if method in NOTIFICATIONS:
        assert any(e.method == method for e in examples("notification"))
        return
    for kind in ("request", "result", "error"):
        assert any(e.method == method for e in examples(kind)), f"no {kind} example for {method}"


@pytest.mark.parametrize("example", examples("request"), ids=ids(examples("request")))
def test_request_examples_validate_against_their_params_model(example: Example) -> None:
    msg = example.json()
    assert msg["jsonrpc"] == "2.0" and "id" in msg
    assert msg["method"] == example.method
    if example.method in PARAMS:
        validate_params(example.method, msg.get("params"))


@pytest.mark.parametrize("example", examples("result"), ids=ids(examples("result")))
def test_result_examples_validate_against_their_result_model(example: Example) -> None:
    msg = example.json()
    assert msg["jsonrpc"] == "2.0" and "id" in msg and "result" in msg
    assert example.method in RESULTS, f"no result model for {example.method}"
    validate_result(example.method, msg["result"])


@pytest.mark.parametrize("example", examples("error"), ids=ids(examples("error")))
def test_error_examples_carry_a_real_error_code(example: Example) -> None:
    msg = example.json()
    assert msg["jsonrpc"] == "2.0" and "id" in msg and "error" in msg
    assert example.method in PARAMS
    validate_error(msg["error"], example.method)


def test_run_event_examples_cover_every_kind_and_validate() -> None:
    events = [e.json() for e in examples("notification") if e.method == p.RUN_EVENT]
    assert events, "no modelwire/runEvent examples"
    for msg in events:
        assert msg["method"] == p.RUN_EVENT and "id" not in msg
        validate_event(msg["params"])
    assert {m["params"]["kind"] for m in events} == set(get_args(p.RunEventKind))


def test_did_change_connections_examples_validate() -> None:
    found = [e.json() for e in examples("notification") if e.method == p.DID_CHANGE_CONNECTIONS]
    assert found, "no modelwire/didChangeConnections example"
    for msg in found:
        assert msg["method"] == p.DID_CHANGE_CONNECTIONS and "id" not in msg
        p.DidChangeConnectionsParams.model_validate(msg["params"])


def test_documented_event_fields_match_the_event_models() -> None:
    """Each kind's always-present fields (required, or sent as null) and its optional
    ones, read from the models in run_events.py, are the ones this test documents."""
    kinds = {body.model_fields["kind"].default: body for body in EVENT_BODIES}
    assert set(kinds) == set(EVENT_FIELDS)
    for kind, body in kinds.items():
        always = {
            f.alias or name
            for name, f in body.model_fields.items()
            if name != "kind" and (f.is_required() or name in body.nulls)
        }
        sometimes = {
            f.alias or name
            for name, f in body.model_fields.items()
            if name not in ("kind", "extra") and not f.is_required() and name not in body.nulls
        }
        if kind == "error":
            sometimes -= {"connectionId", "providerId"}  # documented with the error object
        assert always == EVENT_FIELDS[kind], kind
        assert sometimes == EVENT_OPTIONAL.get(kind, set()), kind


@pytest.mark.parametrize("example", examples("sequence"), ids=ids(examples("sequence")))
def test_sequence_examples_are_valid_exchanges(example: Example) -> None:
    requests: dict[Any, str] = {}
    last_seq: dict[str, int] = {}
    ended: set[str] = set()
    run_of_request: dict[Any, str] = {}
    for raw in example.body.splitlines():
        arrow, _, payload = raw.partition(" ")
        assert arrow in ("→", "←"), f"a sequence line starts with → or ←: {raw[:40]}"
        msg = json.loads(payload)
        assert msg["jsonrpc"] == "2.0"
        method = msg.get("method")
        if method is not None and "id" in msg:
            requests[msg["id"]] = method
            if arrow == "→" and method in PARAMS:
                validate_params(method, msg.get("params"))
        elif method == p.RUN_EVENT:
            event = msg["params"]
            validate_event(event)
            run = event["runId"]
            assert run not in ended, "no event after end"
            assert event["seq"] == last_seq.get(run, 0) + 1, "seq counts 1, 2, 3… per run"
            last_seq[run] = event["seq"]
            if event["kind"] == "end":
                ended.add(run)
            for req_id, req_method in requests.items():
                if req_method == p.START_RUN:
                    run_of_request.setdefault(req_id, run)
        elif method is None:
            assert msg["id"] in requests, f"a response to an unknown request {msg['id']!r}"
            answered = requests[msg["id"]]
            if answered == p.START_RUN:
                run = run_of_request.get(msg["id"])
                assert run in ended, "startRun answers after the run's end event"
            if "result" in msg and answered in RESULTS:
                validate_result(answered, msg["result"])
            elif "error" in msg:
                validate_error(msg["error"])
    assert ended, "a sequence shows a run to its end"


def test_the_error_table_lists_every_code_with_its_numbers() -> None:
    rows = {
        m[1]: (int(m[2]), m[3])
        for m in re.finditer(r"^\| `([A-Z_]+)` \| (-?\d+) \| \**(yes|no)\**", doc_text(), re.M)
    }
    for code in ErrorCode:
        assert code.value in rows, f"{code.value} is missing from the error table"
        rpc, retryable = rows[code.value]
        err = ModelWireError(code, "x")
        assert rpc == err.rpc_code, f"{code.value}: table says {rpc}, code says {err.rpc_code}"
        assert (retryable == "yes") == err.retryable, f"{code.value}: retryable differs"


def _setting_keys() -> set[str]:
    source = (SERVER_SRC / "core" / "settings.py").read_text()
    keys = set(re.findall(r'_(?:number|int|text)\(\s*raw,\s*"([^"]+)"', source))
    package = ROOT / "editor-extension" / "package.json"
    if package.exists():
        contributed = json.loads(package.read_text())["contributes"]["configuration"]
        props = contributed["properties"] if isinstance(contributed, dict) else {}
        keys |= {k.removeprefix("modelwire.") for k in props}
    return keys


def test_settings_doc_covers_every_setting() -> None:
    text = SETTINGS_DOC.read_text(encoding="utf-8")
    keys = _setting_keys()
    assert keys, "found no settings to check"
    for key in sorted(keys):
        assert f"modelwire.{key}" in text, f"docs/settings.md does not document modelwire.{key}"


def test_settings_doc_covers_every_environment_variable() -> None:
    text = SETTINGS_DOC.read_text(encoding="utf-8")
    names: set[str] = set()
    for path in SERVER_SRC.rglob("*.py"):
        source = path.read_text()
        names |= set(re.findall(r'os\.environ(?:\.get|\.pop)?\(\s*"([A-Z][A-Z0-9_]+)"', source))
        names |= set(re.findall(r'\b[A-Z_]*ENV[A-Z_]*\s*=\s*"([A-Z][A-Z0-9_]+)"', source))
    assert "MODELWIRE_HOME" in names
    for name in sorted(names):
        assert name in text, f"docs/settings.md does not mention the environment variable {name}"
