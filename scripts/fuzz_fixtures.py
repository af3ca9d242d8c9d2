#!/usr/bin/env python3
"""Builds a small, connected data set through the API and writes a
schemathesis config that feeds its ids into path, query and body fields.

Without it, nearly every operation with an `{id}` gets a random UUID and
answers 404, so the fuzzer never reaches the handlers' real logic. The ids
are bound with a probability below 1, so random ids (the 404 path) are still
tried.

Usage: fuzz_fixtures.py BASE_URL ADMIN_TOKEN OUT_TOML
Standard library only.
"""

import json
import os
import sys
import urllib.error
import urllib.request

BASE, TOKEN, OUT = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{BASE}/api/v1{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        sys.exit(f"fixture {method} {path} failed: {e.code} {e.read().decode(errors='replace')}")


def cny(amount):
    return {"amount": amount, "currency": "CNY"}


sponsor = call("POST", "/institutions", {"code": "fuzz-sponsor", "name": {"en": "Fuzz sponsor"},
                                         "kind": "foundation", "country": "CN"})["id"]
recipient = call("POST", "/institutions", {"code": "fuzz-recipient", "name": {"en": "Fuzz recipient"},
                                           "kind": "ngo", "country": "TO"})["id"]
spare = call("POST", "/institutions", {"code": "fuzz-spare", "name": {"en": "Unreferenced"},
                                       "kind": "other", "country": "FJ"})["id"]
alliance = call("POST", "/alliances", {"code": "fuzz-alliance", "name": {"en": "Fuzz alliance"},
                                       "founded_on": "2024-10-19", "focus_areas": ["clean energy"]})["id"]
call("POST", f"/alliances/{alliance}/members", {"institution_id": recipient, "role": "member",
                                                "joined_on": "2024-10-19"})
fund = call("POST", "/funds", {"code": "fuzz-fund", "name": {"en": "Fuzz fund"}, "currency": "CNY",
                               "sponsor_institution_id": sponsor, "established_on": "2024-10-19",
                               "focus_areas": []})["id"]
call("POST", f"/funds/{fund}/contributions", {"contributor_institution_id": sponsor,
                                              "amount": cny("1000000000.00"), "received_on": "2024-11-01"})
project = call("POST", "/projects", {"code": "fuzz-project", "title": {"en": "Fuzz project"},
                                     "sector": "clean_energy", "countries": ["TO"], "alliance_id": alliance,
                                     "rio_markers": {"mitigation": 2, "adaptation": 1},
                                     "planned_start": "2025-01-01", "planned_end": "2026-12-31"})["id"]
call("POST", f"/projects/{project}/participants", {"institution_id": recipient, "role": "lead"})
milestone = call("POST", f"/projects/{project}/milestones", {"title": {"en": "Array commissioned"},
                                                              "due_on": "2025-09-30"})["id"]
achieved = call("POST", f"/projects/{project}/milestones", {"title": {"en": "Site survey"},
                                                             "due_on": "2025-03-31"})["id"]
call("POST", f"/milestones/{achieved}/achieve", {"achieved_on": "2025-03-20", "evidence": "report 7"})
report = call("POST", f"/milestones/{milestone}/reports", {"note": "half done", "progress_percent": 50})["id"]


def grant(code, amount, approve):
    g = call("POST", "/grants", {"code": code, "fund_id": fund, "project_id": project,
                                 "recipient_institution_id": recipient, "title": {"en": code},
                                 "amount": cny(amount)})["id"]
    if approve:
        for to in ("submitted", "approved"):
            call("POST", f"/grants/{g}/transitions", {"to": to})
    return g


approved = grant("fuzz-approved", "100000000.00", True)
draft = grant("fuzz-draft", "1000.00", False)
tranche = call("POST", f"/grants/{approved}/tranches", {"amount": cny("1000000.00"), "due_on": "2025-06-30",
                                                        "milestone_id": achieved})["id"]
disbursement = call("POST", f"/grants/{approved}/disbursements", {"amount": cny("10.00"),
                                                                   "paid_on": "2025-04-01",
                                                                   "tranche_id": tranche})["id"]
spare_token = call("POST", "/tokens", {"name": "fuzz viewer", "role": "viewer"})["id"]

ids = {
    "institution": [sponsor, recipient, spare],
    "alliance": [alliance],
    "fund": [fund],
    "project": [project],
    "milestone": [milestone, achieved],
    "report": [report],
    "grant": [approved, draft],
    "tranche": [tranche],
    "disbursement": [disbursement],
    "token": [spare_token],
}

# Path `{id}` by the collection it follows; other names bind everywhere.
path_ids = [
    (r"^/api/v1/institutions/", "institution"),
    (r"^/api/v1/alliances/", "alliance"),
    (r"^/api/v1/funds/", "fund"),
    (r"^/api/v1/projects/", "project"),
    (r"^/api/v1/milestones/", "milestone"),
    (r"^/api/v1/grants/", "grant"),
    (r"^/api/v1/disbursements/", "disbursement"),
    (r"^/api/v1/tokens/", "token"),
]
fields = {
    "fund_id": "fund", "project_id": "project", "alliance_id": "alliance", "milestone_id": "milestone",
    "tranche_id": "tranche", "institution_id": "institution", "recipient_institution_id": "institution",
    "sponsor_institution_id": "institution", "contributor_institution_id": "institution",
    "secretariat_institution_id": "institution", "report_id": "report", "entity_id": "grant",
}


def q(s):
    return json.dumps(s)


lines = ["# Written by scripts/fuzz_fixtures.py for one run; do not edit.", ""]
# Every response within the limit, except the feed's long-poll, which SPEC lets hold
# the request open for `wait` (at most 30) seconds before answering an empty page.
limit = float(os.environ.get("FUZZ_MAX_RESPONSE_SECONDS", "10"))
lines += ["[checks]", f"max_response_time = {limit}", ""]
lines += ["[[operations]]", 'include-path = "/api/v1/events"', f"checks = {{ max_response_time = {max(limit, 35.0)} }}", ""]
for name, values in ids.items():
    lines.append(f"[dictionaries.{name}]")
    lines.append(f"values = {json.dumps(values)}")
    lines.append("")
lines.append("[parameters]")
for field, kind in fields.items():
    for location in ("body", "query", "path"):
        lines.append(f'{q(location + "." + field)} = {{ dictionary = {q(kind)}, probability = 0.8 }}')
lines.append("")
for regex, kind in path_ids:
    lines.append("[[operations]]")
    lines.append(f"include-path-regex = {q(regex)}")
    lines.append(f'parameters = {{ "path.id" = {{ dictionary = {q(kind)}, probability = 0.85 }} }}')
    lines.append("")

with open(OUT, "w") as f:
    f.write("\n".join(lines))
print(f"fixtures: fund {fund}, approved grant {approved}, project {project}", file=sys.stderr)
