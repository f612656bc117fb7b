#!/usr/bin/env python3
"""Builds the seed corpus and dictionary for the `handle_event` fuzz target.

    python3 fuzz/seeds.py OUT_DIR [DICT_FILE]

Writes into OUT_DIR (created if missing; existing files are kept, so a corpus that the
fuzzer grew is only added to):
  - every events/*.json verbatim (API Gateway 2.0, REST API 1.0, function URL);
  - a compact twin of each (only the fields the handler reads), which the fuzzer
    mutates far more efficiently than the 2 KB originals;
  - a signed twin of each compact seed: `Sign`/`RequestTime` valid for the harness's
    token and fixed clock, so the token-on run gets past authentication;
  - hand-made hostile inputs: invalid base64, deep nesting, wrong types, repeated or
    conflicting parameters, bad signatures, oversized fields, probes.
and, if DICT_FILE is given, a libFuzzer dictionary of the protocol's words.

Seed file names are `seed-<name>.json`: stable, so re-running is idempotent.
Standard library only.
"""

import base64
import glob
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Must match fuzz/fuzz_targets/handle_event.rs.
TOKEN = "fuzz-callback-token-7Qx2"
NOW = 1669872112
APP = "1400000001"

COMMANDS = [
    "OfficialAccount.CallbackAfterCreateOfficialAccount",
    "OfficialAccount.CallbackAfterOfficialAccountInfoChanged",
    "OfficialAccount.CallbackAfterOfficialAccountDestroyed",
    "OfficialAccount.CallbackAfterAddSubscriber",
    "OfficialAccount.CallbackAfterOfficialAccountFull",
    "OfficialAccount.CallbackAfterDeleteSubscriber",
    "OfficialAccount.CallbackAfterSendMsg",
    "OfficialAccount.CallbackAfterMsgWithDraw",
    "OfficialAccount.CallbackBeforeSendMsg",
    "OfficialAccount.CallbackSomethingNew",
    "Group.CallbackAfterSendMsg",
]


def sign(request_time: str, token: str = TOKEN) -> str:
    return hashlib.sha256((token + request_time).encode()).hexdigest()


def query(command=None, app=APP, extra=""):
    parts = []
    if app is not None:
        parts.append(f"SdkAppid={app}")
    if command is not None:
        parts.append(f"CallbackCommand={command}")
    parts.append("contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI")
    q = "&".join(parts)
    return q + extra


def signed_suffix(t=str(NOW)):
    return f"&Sign={sign(t)}&RequestTime={t}"


def v2(raw_query, body, method="POST", b64=False):
    """A compact HTTP API 2.0 event: only what the handler reads."""
    return {
        "rawQueryString": raw_query,
        "requestContext": {"http": {"method": method}, "requestId": "fuzz"},
        "body": body,
        "isBase64Encoded": b64,
    }


def compact(event):
    """The fields of a sample event that the HTTP door reads, nothing else."""
    keep = (
        "httpMethod",
        "rawQueryString",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "body",
        "isBase64Encoded",
    )
    out = {k: event[k] for k in keep if k in event}
    rc = event.get("requestContext") or {}
    out["requestContext"] = {
        k: rc[k] for k in ("http", "httpMethod", "requestId") if k in rc
    }
    if "http" in out["requestContext"]:
        out["requestContext"]["http"] = {"method": rc["http"].get("method")}
    return out


def add_signature(event, t=str(NOW), sig=None):
    event = json.loads(json.dumps(event))
    sig = sign(t) if sig is None else sig
    if "rawQueryString" in event:
        event["rawQueryString"] += f"&Sign={sig}&RequestTime={t}"
    for key, wrap in (("queryStringParameters", lambda v: v), ("multiValueQueryStringParameters", lambda v: [v])):
        if isinstance(event.get(key), dict):
            event[key]["Sign"] = wrap(sig)
            event[key]["RequestTime"] = wrap(t)
    return event


def body(command, **fields):
    d = {"CallbackCommand": command} if command else {}
    d.update(fields)
    return json.dumps(d, separators=(",", ":"))


def hostile():
    """Hand-made inputs for paths the samples do not reach. Values are JSON-able
    objects, or bytes written as they are (for inputs that are not valid events)."""
    add = COMMANDS[3]
    send = COMMANDS[6]
    withdraw = COMMANDS[7]
    create = COMMANDS[0]
    oa = "@TOA#_fuzz"
    s = {}
    ok_add = body(add, Official_Account=oa, Operator_Account="op",
                  SubscribeAccountList=[{"Subscriber_Account": "u1"}], EventTime=1670574414123)
    # Bodies.
    s["b64-invalid"] = v2(query(add), "!!!not*base64%%%", b64=True)
    s["b64-valid-binary"] = v2(query(add), base64.b64encode(b"\xff\xfe\x00{\x80").decode(), b64=True)
    s["b64-unpadded"] = v2(query(add), base64.b64encode(ok_add.encode()).decode().rstrip("="), b64=True)
    s["b64-whitespace"] = v2(query(add), "  " + base64.b64encode(ok_add.encode()).decode() + "\n", b64=True)
    s["body-not-object"] = v2(query(add), "[1,2,3]")
    s["body-empty"] = v2(query(add), "")
    s["body-null"] = {"rawQueryString": query(add), "requestContext": {"http": {"method": "POST"}}, "body": None}
    s["body-deep-ignored-field"] = v2(query(add), '{"x":' + "[" * 5000 + "]" * 5000 + "," + ok_add[1:])
    s["msgbody-deep"] = v2(query(send), body(send, Official_Account=oa, MsgKey="k", EventTime=1,
                                               MsgBody=json.loads("[" + '{"a":' * 40 + "1" + "}" * 40 + "]")))
    s["msgbody-elements"] = v2(query(send), body(send, Official_Account=oa, MsgKey="k", MsgTime=1, OnlineOnlyFlag=0,
                                                   EventTime=1670574450123, CloudCustomData="",
                                                   MsgBody=[{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "", "Desc": None, "Ext": [1.5, -0, True]}},
                                                            {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "\u0000\ud7ff"}}]))
    s["msgbody-not-array"] = v2(query(send), body(send, Official_Account=oa, MsgKey="k", EventTime=1, MsgBody={"a": 1}))
    s["wrong-field-types"] = v2(query(add), body(add, Official_Account=7, EventTime="soon", SubscribeAccountList={}))
    s["eventtime-huge"] = v2(query(create), body(create, Official_Account=oa, EventTime=18446744073709551615))
    s["eventtime-float"] = v2(query(create), body(create, Official_Account=oa, EventTime=1.6e12))
    s["eventtime-negative"] = v2(query(create), body(create, Official_Account=oa, EventTime=-1))
    s["account-long"] = v2(query(create), body(create, Official_Account="x" * 1020, EventTime=1))
    s["subscribers-250-dups"] = v2(query(add), body(add, Official_Account=oa, Operator_Account="op", EventTime=2,
                                                      SubscribeAccountList=[{"Subscriber_Account": f"u{i % 240}"} for i in range(250)]))
    s["subscribers-empty"] = v2(query(COMMANDS[5]), body(COMMANDS[5], Official_Account=oa, EventTime=2, UnsubscribeAccountList=[]))
    s["withdraw-many"] = v2(query(withdraw), body(withdraw, Official_Account=oa, EventTime=3,
                                                    WithdrawMsgList=[{"MsgKey": f"k{i}"} for i in range(30)] + [{"MsgKey": ""}]))
    s["info-changed-unicode"] = v2(query(COMMANDS[1]), body(COMMANDS[1], Official_Account="@TOA#_\u00e9\U0001F600",
                                                              Name="\u202e", Introduction="", FaceUrl=None, EventTime=4))
    # Commands.
    s["command-in-body-only"] = v2(query(None), ok_add)
    s["command-mismatch"] = v2(query(create), ok_add)
    s["command-not-string"] = v2(query(None), body(None, CallbackCommand=["x"]))
    s["command-before"] = v2(query(COMMANDS[8]), "")
    s["command-unknown-oa"] = v2(query(COMMANDS[9]), "{}")
    s["command-not-oa"] = v2(query(COMMANDS[10]), "{}")
    s["probe"] = v2(query(None), "")
    s["probe-no-app"] = v2("", "")
    # Query shapes.
    s["query-repeated-app"] = v2(query(add, extra="&SdkAppid=1400000002"), ok_add)
    s["query-repeated-same-app"] = v2(query(add, extra=f"&SdkAppid={APP}"), ok_add)
    s["query-unknown-app"] = v2(query(add, app="1400000009"), ok_add)
    s["query-no-app"] = v2(query(add, app=None), ok_add)
    s["query-percent"] = v2("SdkAppid=%31400000001&CallbackCommand=OfficialAccount%2ECallbackAfterAddSubscriber&x=%zz&=&&a+b=c+d", ok_add)
    s["query-params-null"] = {"queryStringParameters": {"SdkAppid": None, "CallbackCommand": add},
                              "requestContext": {"http": {"method": "POST"}}, "body": ok_add}
    s["rest-multi-conflict"] = {"httpMethod": "POST",
                                "multiValueQueryStringParameters": {"SdkAppid": [APP, "1400000002"], "CallbackCommand": [add, None]},
                                "requestContext": {"httpMethod": "POST"}, "body": ok_add, "isBase64Encoded": False}
    s["rest-multi-null"] = {"httpMethod": "POST", "multiValueQueryStringParameters": {"SdkAppid": None, "x": []},
                            "queryStringParameters": {"SdkAppid": APP}, "body": ok_add}
    # Methods.
    s["method-get"] = v2(query(add), ok_add, method="GET")
    s["method-lower"] = v2(query(add), ok_add, method="post")
    s["method-missing"] = {"rawQueryString": query(add), "body": ok_add}
    # Signatures (only the token-on run cares).
    s["sign-upper"] = v2(query(add, extra=f"&Sign={sign(str(NOW)).upper()}&RequestTime={NOW}"), ok_add)
    s["sign-expired"] = v2(query(add, extra=f"&Sign={sign(str(NOW - 61))}&RequestTime={NOW - 61}"), ok_add)
    s["sign-edge"] = v2(query(add, extra=f"&Sign={sign(str(NOW + 60))}&RequestTime={NOW + 60}"), ok_add)
    s["sign-leading-zero"] = v2(query(add, extra=f"&Sign={sign('0' + str(NOW))}&RequestTime=0{NOW}"), ok_add)
    s["sign-time-20-digits"] = v2(query(add, extra="&Sign=" + "0" * 64 + "&RequestTime=18446744073709551616"), ok_add)
    s["sign-repeated"] = v2(query(add, extra=signed_suffix() + "&Sign=" + "a" * 64), ok_add)
    s["sign-short"] = v2(query(add, extra=f"&Sign=abc&RequestTime={NOW}"), ok_add)
    s["sign-token-in-body"] = v2(query(add, extra=signed_suffix()),
                                 body(add, Official_Account=TOKEN, EventTime=TOKEN, SubscribeAccountList=[{TOKEN: TOKEN}]))
    # Not events at all, or wrong types at the top: lambda_runtime's problem, the
    # harness must return quietly.
    raw = {}
    raw["top-array"] = b"[]"
    raw["top-empty-object"] = b"{}"
    raw["body-number"] = json.dumps({"body": 5, "rawQueryString": query(add)}).encode()
    raw["b64-flag-string"] = json.dumps({"body": "", "isBase64Encoded": "true"}).encode()
    raw["request-context-array"] = b'{"requestContext":[],"body":"{}"}'
    raw["event-deep"] = b'{"x":' + b"[" * 200 + b"]" * 200 + b"}"
    raw["event-dup-keys"] = ('{"body":"{}","body":' + json.dumps(ok_add) + ',"rawQueryString":' + json.dumps(query(add)) +
                             ',"requestContext":{"http":{"method":"POST"}}}').encode()
    raw["invalid-utf8"] = b'{"body":"\xff","rawQueryString":"a"}'
    raw["lone-surrogate"] = b'{"body":"\\ud800","rawQueryString":"SdkAppid=1400000001"}'
    return s, raw


def dictionary():
    words = set()
    for c in COMMANDS:
        words.add(c)
    words.update([
        "CallbackCommand", "SdkAppid", "Sign", "RequestTime", "contenttype", "ClientIP", "OptPlatform",
        "Official_Account", "Operator_Account", "Owner_Account", "Name", "Introduction", "FaceUrl",
        "Organization", "EventTime", "SubscribeAccountList", "UnsubscribeAccountList", "Subscriber_Account",
        "MsgKey", "MsgTime", "OnlineOnlyFlag", "MsgBody", "MsgType", "MsgContent", "CloudCustomData",
        "WithdrawMsgList", "TIMTextElem", "TIMCustomElem", "Text",
        "rawQueryString", "queryStringParameters", "multiValueQueryStringParameters", "requestContext",
        "httpMethod", "http", "method", "body", "isBase64Encoded", "requestId", "POST", "GET",
        APP, str(NOW), sign(str(NOW)), "OfficialAccount.", "CallbackBefore", "CallbackAfter", "@TOA#_",
        "true", "false", "null", "&", "=", "%", "\\u0000", "\\ud800", "1400000002",
    ])
    lines = []
    for w in sorted(words):
        esc = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "\\x%02X" % ord(c) for c in w)
        lines.append(f'"{esc}"')
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {}
    raw = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "events", "*.json"))):
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path, "rb") as f:
            raw["event-" + name] = f.read()
        event = compact(json.loads(raw["event-" + name]))
        seeds["compact-" + name] = event
        seeds["signed-" + name] = add_signature(event)
    h, hraw = hostile()
    seeds.update(h)
    raw.update(hraw)
    written = 0
    for name, event in seeds.items():
        raw[name] = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    for name, data in raw.items():
        path = os.path.join(out, f"seed-{name}.json")
        with open(path, "wb") as f:
            f.write(data)
        written += 1
    if len(argv) > 2:
        with open(argv[2], "w") as f:
            f.write(dictionary())
    print(f"seeds.py: {written} seeds in {out}")


if __name__ == "__main__":
    main(sys.argv)
