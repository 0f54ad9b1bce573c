"""Schemathesis hooks for the query API's contract run.

OpenAPI 3.0 and GraphQL types cannot state rules that tie parameters together (range or from/to, the span limit,
points per series, prefix host bits, real calendar dates); the document states them in words. These hooks keep
schema-valid (positive) cases inside those stated rules, so the positive-acceptance check tests what the document
promises; negative cases are left as generated. They also teach the GraphQL generator the API's scalars.
"""

import ast
import ipaddress
import math
import os
import re
import threading
import time
from datetime import datetime

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

# CPython 3.11 builds AST objects with interpreter-wide depth bookkeeping, so two threads parsing at once can fail
# with "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905). Hypothesis parses source
# files to describe lambdas the first time it meets them, and with --workers 2 two operations can get there together
# (measured: 2-3 runtime errors per REST run once POST /v1/sql joined the document); one parse at a time avoids it.
_ast_parse = ast.parse
_ast_lock = threading.RLock()


def _parse_one_at_a_time(*args, **kwargs):
    with _ast_lock:
        return _ast_parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time

MAX_RANGE_MS = int(os.environ.get("TMA_CONTRACT_MAX_RANGE_MS", str(31 * 86_400_000)))
MAX_POINTS = int(os.environ.get("TMA_CONTRACT_MAX_POINTS", "1000"))
UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
MARGIN_MS = 120_000  # the clock moves between generation and the request


def _duration(text):
    m = re.fullmatch(r"([1-9]\d{0,5})([smhdw])", str(text))
    return int(m.group(1)) * UNIT_MS[m.group(2)] if m else None


def _instant(text):
    text = str(text)
    if re.fullmatch(r"\d{10,13}", text):
        return int(text)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return None  # not a calendar date (e.g. 2026-02-30)


def _prefix_ok(text):
    try:
        ipaddress.ip_network(str(text), strict=True)
        return True
    except ValueError:
        return False


def within_stated_rules(args):
    """True when the arguments keep the documented cross-parameter rules."""
    now = time.time() * 1000
    given = {k: v for k, v in args.items() if v is not None}
    if "range" in given and ("from" in given or "to" in given):
        return False
    if "to" in given and "from" not in given:
        return False
    if "range" in given:
        span = _duration(given["range"])
        if span is None:
            return False
    elif "from" in given:
        start = _instant(given["from"])
        end = _instant(given["to"]) if "to" in given else now
        if start is None or end is None:
            return False
        span = end - start
        if span <= MARGIN_MS or span > MAX_RANGE_MS - MARGIN_MS:
            return False
    else:
        span = 3_600_000
    if "step" in given:
        step = _duration(given["step"])
        if step is None or step > MAX_RANGE_MS or math.ceil(span / step) > MAX_POINTS:
            return False
    elif span > MAX_POINTS * 86_400_000:
        return False
    for key in ("prefix", "srcPrefix", "dstPrefix"):
        if key in given and not _prefix_ok(given[key]):
            return False
    return True


def _positive(case):
    meta = getattr(case, "_meta", None)
    return meta is None or not meta.generation.mode.is_negative


@schemathesis.hook
def filter_case(ctx, case):
    if not _positive(case):
        return True
    if isinstance(case.query, dict) and case.query and not within_stated_rules(case.query):
        return False
    if isinstance(case.body, (str, dict)):
        return graphql_within_stated_rules(case.body)
    return True


# GraphQL: the API's argument scalars, generated inside their stated forms.
def _now_ms():
    return int(time.time() * 1000)


def _units(units, cap_ms=None):
    options = []
    for unit in units:
        top = 999_999 if cap_ms is None else min(999_999, cap_ms // UNIT_MS[unit])
        if top >= 1:
            options.append(st.integers(1, top).map(lambda n, u=unit: f"{n}{u}"))
    return st.one_of(options)


def _instant_strategy():
    ms = st.integers(_now_ms() - MAX_RANGE_MS + MARGIN_MS, _now_ms() - MARGIN_MS)
    iso = ms.map(lambda t: datetime.utcfromtimestamp(t / 1000).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return st.one_of(ms.map(str), iso)


def _cased(name):
    return st.tuples(*(st.sampled_from([c.lower(), c.upper()]) for c in name)).map("".join)


def _prefix():
    def net(addr, length):
        bits = addr.max_prefixlen
        return str(ipaddress.ip_network(f"{addr}/{length % (bits + 1)}", strict=False))

    return st.builds(net, st.ip_addresses(), st.integers(0, 128))


schemathesis.graphql.scalar("Duration", _units("smhdw", MAX_RANGE_MS).map(nodes.String))
schemathesis.graphql.scalar("Instant", _instant_strategy().map(nodes.String))
schemathesis.graphql.scalar("Step", _units("mhdw", MAX_RANGE_MS).map(nodes.String))
schemathesis.graphql.scalar("HostId", st.from_regex(r"\A[A-Za-z0-9._:-]{1,200}\Z").map(nodes.String))
schemathesis.graphql.scalar(
    "Protocol",
    st.one_of(
        st.sampled_from(["icmp", "tcp", "udp", "icmpv6", "gre", "esp", "sctp"]).flatmap(_cased),
        st.integers(0, 255).map(str),
    ).map(nodes.String),
)
schemathesis.graphql.scalar("Port", st.integers(0, 65535).map(nodes.Int))
schemathesis.graphql.scalar("RuleId", st.uuids().map(str).map(nodes.String))
schemathesis.graphql.scalar("IpAddress", st.ip_addresses().map(str).map(nodes.String))
schemathesis.graphql.scalar("Cidr", _prefix().map(nodes.String))
schemathesis.graphql.scalar("TopK", st.integers(1, 1000).map(nodes.Int))
schemathesis.graphql.scalar("Phi", st.floats(0.0001, 0.9999).map(nodes.Float))


def _literal(node):
    import graphql

    if isinstance(node, graphql.ListValueNode):
        return [_literal(v) for v in node.values]
    if isinstance(node, graphql.NullValueNode):
        return None
    return getattr(node, "value", None)


def graphql_within_stated_rules(body):
    import graphql

    text = body.get("query") if isinstance(body, dict) else body
    if not isinstance(text, str):
        return True
    try:
        doc = graphql.parse(text)
    except graphql.GraphQLError:
        return True
    for definition in doc.definitions:
        selections = definition.selection_set.selections if getattr(definition, "selection_set", None) else []
        for selection in selections:
            args = {a.name.value: _literal(a.value) for a in getattr(selection, "arguments", None) or []}
            if not within_stated_rules(args):
                return False
    return True


# GraphQL mutations: the answers their documentation promises (schemathesis-graphql.toml says why this check stands in
# for the generic ones there).
MUTATION_REFUSALS = {
    "BAD_USER_INPUT",
    "GRAPHQL_VALIDATION_FAILED",
    "GRAPHQL_PARSE_FAILED",
    "BAD_REQUEST",
    "NOT_FOUND",
    "CONFLICT",
}


@schemathesis.check
def documented_mutation_answer(ctx, response, case):
    if not str(case.operation.label).startswith("Mutation."):
        return None
    if response.status_code >= 500:
        raise AssertionError(f"server error {response.status_code}")
    body = response.json()
    errors = body.get("errors") or []
    if not errors and body.get("data") is None:
        raise AssertionError("neither data nor errors")
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        if code not in MUTATION_REFUSALS:
            raise AssertionError(f"undocumented error {code}: {error.get('message')}")
    return None


RULE_TTL_S = (10, 7 * 24 * 3600)


def _rule_prefix(text):
    """The generated prefix narrowed to the widest the rule check takes (/8 IPv4, /16 IPv6)."""
    net = ipaddress.ip_network(str(text), strict=False)
    least = 8 if net.version == 4 else 16
    return str(net if net.prefixlen >= least else ipaddress.ip_network(f"{net.network_address}/{least}", strict=False))


@schemathesis.hook
def map_case(ctx, case):
    """Keeps a positive proposeRule inside the rules its description states in words (width, a port only with tcp or
    udp, TTL, reason, the destination's family; alertId alone, and generated ids name no alert), so proposals succeed
    and their answers are checked against the schema; a prefix proposed twice or the cap still answers CONFLICT."""
    if not _positive(case) or str(case.operation.label) != "Mutation.proposeRule" or not isinstance(case.body, str):
        return case
    import graphql

    doc = graphql.parse(case.body)
    field = doc.definitions[0].selection_set.selections[0]
    args = {a.name.value: _literal(a.value) for a in field.arguments or []}
    args.pop("alertId", None)
    prefix = _rule_prefix(args.get("srcPrefix") or "198.18.0.0/24")
    args["srcPrefix"] = prefix
    ttl = args.get("ttlSeconds")
    args["ttlSeconds"] = min(max(int(ttl if ttl is not None else 600), RULE_TTL_S[0]), RULE_TTL_S[1])
    if len(str(args.get("reason") or "").strip()) < 3:
        args["reason"] = "generated proposal"
    args["reason"] = str(args["reason"])[:500]
    if args.get("port") and args.get("protocol") not in ("tcp", "udp"):
        args["protocol"] = "udp"
    if args.get("dst") is not None and (":" in str(args["dst"])) != (":" in prefix):
        del args["dst"]
    enums = {"protocol"}
    parts = []
    for name, value in args.items():
        if value is None:
            continue
        if name in enums:
            text = str(value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list):
            text = "[" + ", ".join(graphql.print_ast(graphql.StringValueNode(value=str(v))) for v in value) + "]"
        elif name in ("port", "ttlSeconds"):
            text = str(int(value))
        else:
            text = graphql.print_ast(graphql.StringValueNode(value=str(value)))
        parts.append(f"{name}: {text}")
    selection = graphql.print_ast(field.selection_set) if field.selection_set else ""
    case.body = f"mutation {{ proposeRule({', '.join(parts)}) {selection} }}"
    return case
