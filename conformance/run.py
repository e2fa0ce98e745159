#!/usr/bin/env python3
"""Runs the public SCIM conformance suites against a freshly started roster.

    python3 conformance/run.py [--fixtures DIR] [--out DIR] [--update] [--suite NAME ...]

Each suite gets its own roster: an empty SQLite database and a new SCIM token, on 127.0.0.1. The
suites' data files are read from --fixtures (CI passes ../shared/conformance); nothing of theirs is
kept in this repository. Prints one line per suite, `SUITE: N passed, M failed, K skipped`, writes
summary.json to --out, and exits non-zero when a check that passes in conformance/expected.json no
longer does (--update rewrites that file from this run).
"""

import argparse
import copy
import json
import os
import random
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXPECTED = os.path.join(HERE, "expected.json")
TOOLS = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "roster-conformance")
PINNED_PYTHON = ["scim2-tester==0.5.2", "scim2-client==0.13.2", "scim2-models==0.12.3", "httpx2"]
PINNED_NEWMAN = "newman@6.2.1"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


# ---- roster ------------------------------------------------------------------------------------

def roster_binary():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    run(["cargo", "build", "--quiet", "--bin", "roster"], cwd=ROOT)
    path = os.path.join(target, "debug", "roster")
    if not os.path.exists(path):
        sys.exit(f"conformance: {path} was not built")
    return path


class Roster:
    """A fresh roster: empty database, one organization, one SCIM token."""

    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="roster-conformance-")
        self.env = dict(os.environ, ROSTER_DATA_DIR=self.dir, ROSTER_DATABASE_URL=f"sqlite://{self.dir}/roster.db",
                        ROSTER_LOG_LEVEL="warn", ROSTER_BOOTSTRAP="false")
        cli = lambda *a: subprocess.run([binary, *a], env=self.env, check=True, capture_output=True, text=True).stdout.strip()
        cli("migrate")
        org = cli("org", "create", "Conformance")
        self.token = cli("token", "create", "--org", org, "--scope", "scim")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{self.port}"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "server.log"), "w"))
        self.base = f"http://127.0.0.1:{self.port}/scim/v2"
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("conformance: roster did not start")
                time.sleep(0.1)

    def request_raw(self, method, path, raw):
        return self.request(method, path, None, None, raw.encode())

    def request_wire(self, method, path, body=None, extra_head=""):
        """Sends the request byte for byte over a socket: the path exactly as given (raw quotes,
        spaces, brackets), as real clients send it and as a client library would not."""
        host, port = self.base.split("//", 1)[1].split("/", 1)[0].split(":")
        prefix = "/" + self.base.split("//", 1)[1].split("/", 1)[1]
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {prefix}{path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {self.token}\r\n"
                f"Accept: application/scim+json\r\nContent-Type: application/scim+json\r\nContent-Length: {len(data)}\r\n"
                f"{extra_head}Connection: close\r\n\r\n")
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(head.encode() + data)
            raw = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                raw += chunk
        status_line, _, rest = raw.partition(b"\r\n")
        _, _, payload = rest.partition(b"\r\n\r\n")
        status = int(status_line.split()[1])
        try:
            return status, json.loads(payload) if payload else None
        except ValueError:
            return status, None

    def request(self, method, path, body=None, headers=None, data=None):
        data = data if data is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Content-Type", "application/scim+json")
        req.add_header("Accept", "application/scim+json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw) if raw else None
            except ValueError:
                return e.code, None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def result(checks):
    count = lambda s: sum(1 for c in checks if c["status"] == s)
    return {"passed": count("passed"), "failed": count("failed"), "skipped": count("skipped"), "checks": checks}


# ---- scim2-tester -----------------------------------------------------------------------------

SCIM2_TESTER_DRIVER = r"""
import json, sys
import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server, Status
base, token = sys.argv[1], sys.argv[2]
client = SyncSCIMClient(httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30))
out = []
for r in check_server(client):
    status = {Status.SUCCESS: "passed", Status.COMPLIANT: "passed", Status.ACCEPTABLE: "passed",
              Status.SKIPPED: "skipped"}.get(r.status, "failed")
    name = f"{r.resource_type or '-'}: {r.title}"
    out.append({"name": name, "status": status, "detail": (r.reason or r.description or "")[:500], "level": r.status.name})
print(json.dumps(out))
"""


def scim2_tester(roster, fixtures):
    venv = os.path.join(TOOLS, "venv")
    python = os.path.join(venv, "bin", "python")
    marker = os.path.join(venv, "installed.txt")
    if not os.path.exists(marker) or open(marker).read() != " ".join(PINNED_PYTHON):
        log("conformance: installing scim2-tester into " + venv)
        run([sys.executable, "-m", "venv", venv])
        run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINNED_PYTHON])
        open(marker, "w").write(" ".join(PINNED_PYTHON))
    out = subprocess.run([python, "-c", SCIM2_TESTER_DRIVER, roster.base, roster.token], check=True, capture_output=True, text=True)
    checks = json.loads(out.stdout)
    # Several checks may share a title: number repeats so that names stay unique.
    seen = {}
    for c in checks:
        seen[c["name"]] = seen.get(c["name"], 0) + 1
        if seen[c["name"]] > 1:
            c["name"] = f"{c['name']} #{seen[c['name']]}"
    return result(checks)


# ---- Microsoft reference collection (newman) ------------------------------------------------------

def newman():
    prefix = os.path.join(TOOLS, "node")
    binary = os.path.join(prefix, "node_modules", ".bin", "newman")
    if not os.path.exists(binary):
        log("conformance: installing newman into " + prefix)
        os.makedirs(prefix, exist_ok=True)
        run(["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error", PINNED_NEWMAN])
    return binary


def microsoft(roster, fixtures, out_dir):
    source = os.path.join(fixtures, "microsoft-scim-reference-PostmanCollection.json")
    collection = json.load(open(source))
    # The "Get Token" folder targets Microsoft's own server; the token comes from roster's CLI instead.
    collection["item"] = [i for i in collection["item"] if i.get("name") != "Get Token"]
    copy_path = os.path.join(out_dir, "microsoft-collection.json")
    json.dump(collection, open(copy_path, "w"))
    report = os.path.join(out_dir, "microsoft-report.json")
    env = ["--env-var", "Protocol=http", "--env-var", "Server=127.0.0.1", "--env-var", f"Port=:{roster.port}",
           "--env-var", "Api=scim/v2", "--env-var", f"token={roster.token}"]
    subprocess.run([newman(), "run", copy_path, *env, "--reporters", "json", "--reporter-json-export", report,
                    "--timeout-request", "30000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data = json.load(open(report))
    checks = []
    for execution in data["run"]["executions"]:
        request = execution["item"]["name"]
        for a in execution.get("assertions") or []:
            error = a.get("error")
            checks.append({"name": f"{request}: {a['assertion']}", "status": "failed" if error else "passed",
                           "detail": (error or {}).get("message", "")})
    seen = {}
    for c in checks:
        seen[c["name"]] = seen.get(c["name"], 0) + 1
        if seen[c["name"]] > 1:
            c["name"] = f"{c['name']} #{seen[c['name']]}"
    return result(checks)


# ---- Okta SPEC test (Runscope export) ------------------------------------------------------------

def okta_variables(roster):
    given = "".join(random.choices(string.ascii_lowercase, k=8)).capitalize()
    family = "".join(random.choices(string.ascii_lowercase, k=8)).capitalize()
    username = f"{given.lower()}.{family.lower()}@example.com"
    return {
        "SCIMBaseURL": roster.base,
        "auth": f"Bearer {roster.token}",
        "randomGivenName": given,
        "randomFamilyName": family,
        "randomUsername": username,
        "randomUsernameCaps": username.upper(),
        "randomEmail": f"{given.lower()}{random.randint(1000, 9999)}@example.com",
        "InvalidUserEmail": f"{given.lower()}@invalid{random.randint(1000, 9999)}.example",
        "UserIdThatDoesNotExist": str(uuid.uuid4()),
    }


def substitute(text, variables):
    if text is None:
        return None
    for k, v in variables.items():
        text = text.replace("{{" + k + "}}", v)
    return text


def json_path(value, path):
    """`Resources[0].name.familyName` in a JSON value; None when absent."""
    for part in path.replace("]", "").split("."):
        name, _, index = part.partition("[")
        if name:
            if not isinstance(value, dict) or name not in value:
                return None
            value = value[name]
        if index:
            if not isinstance(value, list) or int(index) >= len(value):
                return None
            value = value[int(index)]
    return value


def as_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def assertion_holds(a, status, body, elapsed_ms, headers, variables):
    source, comparison = a.get("source"), a.get("comparison")
    expected = substitute(a.get("value"), variables)
    if source == "response_status":
        actual = status
    elif source == "response_time":
        actual = elapsed_ms
    elif source == "response_header":
        actual = headers.get(a.get("property", "").lower())
    elif source == "response_json":
        actual = json_path(body, a.get("property", "")) if body is not None else None
    else:
        return False, f"unknown source {source}"
    ok = {
        "equal_number": lambda: actual is not None and float(actual) == float(expected),
        "equal": lambda: as_text(actual) == expected,
        "not_equal": lambda: as_text(actual) != expected,
        "not_empty": lambda: actual is not None and actual != "" and actual != [] and actual != {},
        "empty": lambda: actual in (None, "", [], {}),
        "has_value": lambda: isinstance(actual, list) and expected in actual,
        "contains": lambda: actual is not None and expected in (actual if isinstance(actual, (list, str)) else as_text(actual)),
        "is_a_number": lambda: isinstance(actual, (int, float)) and not isinstance(actual, bool),
        "is_less_than": lambda: actual is not None and float(actual) < float(expected),
        "has_key": lambda: isinstance(actual, dict) and expected in actual,
    }.get(comparison)
    if ok is None:
        return False, f"unknown comparison {comparison}"
    try:
        return ok(), f"{source} {a.get('property') or ''} {comparison} {expected!r}: got {actual!r}"
    except (TypeError, ValueError) as e:
        return False, f"{comparison}: {e}"


def run_script(script, status, raw_body, headers):
    harness = ("const assert = require('assert');\n"
               f"const response = {{status: {status}, body: {json.dumps(raw_body)}, headers: {json.dumps(headers)}}};\n" + script)
    r = subprocess.run(["node", "-e", harness], capture_output=True, text=True, timeout=30)
    return r.returncode == 0, (r.stderr.strip().splitlines() or [""])[-1][:300]


def okta(roster, fixtures):
    spec = json.load(open(os.path.join(fixtures, "Okta-SCIM-20-SPEC-Test.json")))
    variables = okta_variables(roster)
    # Okta's guide: create at least one user before running the suite.
    seed = f"seed.{uuid.uuid4().hex[:8]}@example.com"
    roster.request("POST", "/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": seed,
                                      "name": {"givenName": "Seed", "familyName": "User"},
                                      "emails": [{"value": seed, "primary": True, "type": "work"}], "active": True})
    checks = []
    for index, step in enumerate(spec["steps"]):
        if step.get("step_type") != "request":
            continue
        url = substitute(step["url"], variables)
        parts = urllib.parse.urlsplit(url)
        url = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.quote(parts.query, safe="=&")))
        headers = {k: substitute(v[0] if isinstance(v, list) else v, variables) for k, v in (step.get("headers") or {}).items()}
        body = substitute(step.get("body"), variables)
        req = urllib.request.Request(url, data=body.encode() if body else None, method=step["method"])
        for k, v in headers.items():
            req.add_header(k, v)
        started = time.time()
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, raw, resp_headers = r.status, r.read().decode(), {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as e:
            status, raw, resp_headers = e.code, e.read().decode(), {k.lower(): v for k, v in e.headers.items()}
        elapsed = (time.time() - started) * 1000
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        label = f"step {index} {step['method']} {step['url'].replace('{{SCIMBaseURL}}', '')}"
        for a in step.get("assertions") or []:
            ok, detail = assertion_holds(a, status, parsed, elapsed, resp_headers, variables)
            name = f"{label}: {a.get('source')} {a.get('property') or ''} {a.get('comparison')} {a.get('value') or ''}".strip()
            checks.append({"name": name, "status": "passed" if ok else "failed", "detail": detail})
        for script in step.get("scripts") or []:
            if script.strip():
                ok, detail = run_script(script, status, raw, resp_headers)
                checks.append({"name": f"{label}: script", "status": "passed" if ok else "failed", "detail": detail})
        for v in step.get("variables") or []:
            if v.get("source") == "response_json" and parsed is not None:
                found = json_path(parsed, v.get("property", ""))
                if found is not None:
                    variables[v["name"]] = as_text(found)
    return result(checks)


# ---- roster's own corpus --------------------------------------------------------------------------

def corpus(roster, fixtures):
    cases = json.load(open(os.path.join(HERE, "corpus.json")))
    context = {}

    def fill(value):
        """Replaces {user}-style placeholders with ids saved by earlier cases."""
        text = json.dumps(value)
        for k, v in context.items():
            text = text.replace("{" + k + "}", v)
        return json.loads(text)

    def lookup(answer, key):
        # `urn:…:2.0:User|manager.value`: a URN key (dots and all), then a path inside it.
        head, _, rest = key.partition("|")
        if rest:
            inner = answer.get(head) if isinstance(answer, dict) else None
            return json_path(inner, rest) if inner is not None else None
        return json_path(answer, key)

    checks = []
    for case in cases:
        path = fill(case["path"])
        if case.get("wire"):
            status, answer = roster.request_wire(case["method"], path, fill(case.get("body")), case.get("wire_head", ""))
        elif "raw" in case:
            status, answer = roster.request_raw(case["method"], path, case["raw"])
        else:
            status, answer = roster.request(case["method"], path, fill(case.get("body")), case.get("headers"))
        ok = status == case["status"]
        detail = f"status {status}"
        for key, want in fill(case.get("expect") or {}).items():
            got = lookup(answer, key) if answer is not None else None
            if got != want:
                ok = False
                detail += f"; {key} = {got!r}, expected {want!r}"
        for name, key in (case.get("save") or {}).items():
            if answer:
                context[name] = as_text(json_path(answer, key))
        checks.append({"name": case["name"], "status": "passed" if ok else "failed", "detail": detail})
    return result(checks)


SUITES = {"scim2-tester": scim2_tester, "microsoft": microsoft, "okta": okta, "corpus": corpus}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", default=os.path.join(ROOT, "..", "shared", "conformance"))
    parser.add_argument("--out", default=os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "conformance"))
    parser.add_argument("--update", action="store_true", help="rewrite conformance/expected.json from this run")
    parser.add_argument("--suite", action="append", choices=list(SUITES))
    args = parser.parse_args()
    for needed in ["microsoft-scim-reference-PostmanCollection.json", "Okta-SCIM-20-SPEC-Test.json"]:
        if not os.path.exists(os.path.join(args.fixtures, needed)):
            sys.exit(f"conformance: {needed} not found in {args.fixtures} (see conformance/README.md)")
    os.makedirs(args.out, exist_ok=True)
    binary = roster_binary()
    summary = {}
    for name in args.suite or list(SUITES):
        roster = Roster(binary)
        try:
            if name == "microsoft":
                summary[name] = microsoft(roster, args.fixtures, args.out)
            else:
                summary[name] = SUITES[name](roster, args.fixtures)
        finally:
            roster.stop()
        s = summary[name]
        print(f"{name}: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped", flush=True)
    json.dump(summary, open(os.path.join(args.out, "summary.json"), "w"), indent=2)

    if args.update:
        expected = json.load(open(EXPECTED)) if os.path.exists(EXPECTED) else {}
        for name, s in summary.items():
            expected[name] = sorted(c["name"] for c in s["checks"] if c["status"] == "passed")
        json.dump(expected, open(EXPECTED, "w"), indent=1, sort_keys=True)
        print(f"conformance: wrote {EXPECTED}")
        return 0
    expected = json.load(open(EXPECTED)) if os.path.exists(EXPECTED) else {}
    regressions = []
    for name, s in summary.items():
        passing = {c["name"] for c in s["checks"] if c["status"] == "passed"}
        for check in expected.get(name, []):
            if check not in passing:
                detail = next((c["detail"] for c in s["checks"] if c["name"] == check), "no longer run")
                regressions.append(f"{name}: {check} ({detail})")
    for r in regressions:
        print(f"REGRESSION {r}")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
