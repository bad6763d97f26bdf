"""`vscanner conformance`: the JSON holds every SOP class of each statement with its roles.

The reference tables in tests/statement_tables/ were transcribed from the statements'
network services tables, independently of the profiles.
"""

from __future__ import annotations

import json

import pytest

from .statement_tables import TABLES
from .test_profiles import PROFILE_IDS, vscanner

REQUIRED_TS_KEYS = {"storage_scu", "storage_scp", "query_retrieve", "worklist", "mpps",
                    "storage_commitment", "print", "media"}


@pytest.fixture(scope="module", params=PROFILE_IDS)
def conformance(request):
    r = vscanner("conformance", request.param, "--format", "json")
    assert r.returncode == 0, r.stderr
    return request.param, json.loads(r.stdout)


def test_json_shape(conformance):
    pid, doc = conformance
    for key in ("profile", "product", "implementation_class_uid", "implementation_version_name",
                "max_pdu", "sop_classes", "transfer_syntaxes", "media_profiles", "character_sets"):
        assert key in doc, key
    assert doc["profile"] == pid
    assert REQUIRED_TS_KEYS <= set(doc["transfer_syntaxes"])
    for row in doc["sop_classes"]:
        assert set(row) >= {"name", "uid", "scu", "scp", "creates"}


def test_every_statement_sop_class_with_its_roles(conformance):
    pid, doc = conformance
    by_uid = {row["uid"]: row for row in doc["sop_classes"]}
    wrong = []
    for name, uid, scu, scp in TABLES[pid]:
        row = by_uid.get(uid)
        if row is None:
            if scu or scp:
                wrong.append(f"{name} {uid}: missing from the profile")
            continue
        if (row["scu"], row["scp"]) != (scu, scp):
            wrong.append(f"{name} {uid}: profile scu={row['scu']} scp={row['scp']}, statement scu={scu} scp={scp}")
    assert not wrong, "\n".join(wrong)


def test_markdown_renders_every_class(conformance):
    pid, doc = conformance
    r = vscanner("conformance", pid, "--format", "markdown")
    assert r.returncode == 0
    for row in doc["sop_classes"]:
        assert f"`{row['uid']}`" in r.stdout
