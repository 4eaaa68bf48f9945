"""Operator console of inbound messages over HTTP, on the demo database: search, detail (raw, canonical, outcome,
attempts), replay one / many / by status, dead letters; administrators only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.settings import PROJECT_ROOT
from orientation_core.inbox.model import InboxSource, NewInboxMessage
from orientation_core.persistence import tables

ADMIN, MARTIN = "admin", "810100000017"




@pytest.fixture
def api(make_api: Any) -> Any:
    return make_api(queue="sync")


def test_only_administrators_open_the_console(store_hl7: Any, api: Any) -> None:
    store_hl7(api, "adt_a28__creation")
    api.problem(api.get(MARTIN, "/api/v1/messages"), 403, "droits.refuse")
    api.problem(api.post(MARTIN, "/api/v1/messages/rejouer", json={"ids": [1]}), 403, "droits.refuse")
    assert api.get(None, "/api/v1/messages").status_code == 401
    assert api.ok(api.get(ADMIN, "/api/v1/messages"))["elements"]


def test_search_by_sender_event_status_date_and_patient(store_hl7: Any, api: Any) -> None:
    t0 = api.clock.now()
    a28 = store_hl7(api, "adt_a28__creation", received_at=t0 - dt.timedelta(days=2))
    a01 = store_hl7(api, "adt_a01__nominal", received_at=t0 - dt.timedelta(hours=1))
    other = store_hl7(api, "adt_a47__ipp_change", received_at=t0)
    bad = store_hl7(api, "neg__unknown_event", received_at=t0)
    api.container.run_task("ingest.process")

    def ids(**params: Any) -> list[int]:
        return [e["id"] for e in api.ok(api.get(ADMIN, "/api/v1/messages", params=params))["elements"]]

    assert ids() == [bad, other, a01, a28]  # newest first
    assert ids(evenement="A01") == [a01]
    assert ids(statut="rejected") == [bad]
    assert ids(statut=["rejected", "processed"], evenement="A28") == [a28]
    assert ids(patient="900001") == [bad, a01, a28]
    assert ids(patient="900101") == [other]
    assert ids(emetteur="dpi_hse", limit=1) == [bad]
    since = (t0 - dt.timedelta(hours=3)).isoformat()
    assert ids(depuis=since) == [bad, other, a01]
    assert ids(depuis=since, jusqua=t0.isoformat()) == [a01]
    body = api.ok(api.get(ADMIN, "/api/v1/messages", params={"evenement": "A08"}))
    assert body["elements"][0]["problemes"] == ["evenement.inconnu"]
    assert body["compteurs"] == {"processed": 3, "rejected": 1}
    api.problem(api.get(ADMIN, "/api/v1/messages", params={"depuis": "2026-03-01T00:00:00"}), 422,
                "messages.date_sans_fuseau")


def test_detail_shows_raw_text_canonical_outcome_and_attempts(store_hl7: Any, api: Any) -> None:
    inbox_id = store_hl7(api, "adt_a01__nominal")
    api.container.run_task("ingest.process")
    body = api.ok(api.get(ADMIN, f"/api/v1/messages/{inbox_id}"))
    assert body["brut"].splitlines()[0].startswith("MSH|^~\\&|DPI_HSE|")
    assert "ROL|1|AD|ODRP^Médecin traitant" in body["brut"]  # decoded per MSH-18 (8859/15)
    assert body["canonique"]["stay"]["movement"]["id"] == "MVT-0002"
    assert body["resultat"]["statut"] == "processed"
    assert "mouvement:A01" in body["resultat"]["rapport"]["applique"]
    assert [h["resultat"] for h in body["historique"]] == ["processed"]
    api.problem(api.get(ADMIN, "/api/v1/messages/999999"), 404, "introuvable")
    metrics = api.client.get("/metrics").text
    assert 'aiguillage_ingest_messages_total{source="hl7v2",status="processed"}' in metrics
    assert "aiguillage_ingest_batch_seconds_count" in metrics


def test_dead_letters_are_listed_and_replayed_with_their_history(store_hl7: Any, api: Any) -> None:
    # A stay of an établissement the directory does not know yet: fails until the operator fixes it.
    failing = store_hl7(api, "adt_a01__nominal", replace=(b"HSE&690001011&M^AN", b"X&750000000&M^AN"))
    from gateway.intake import Pipeline, PipelinePolicy

    pipeline = Pipeline(api.container.uow, api.container.env, PipelinePolicy(max_attempts=1))
    pipeline.drain()
    dead = api.ok(api.get(ADMIN, "/api/v1/messages/lettres-mortes"))["elements"]
    assert [d["id"] for d in dead] == [failing]
    assert dead[0]["derniere_erreur"].startswith("etablissement.inconnu")
    with api.container.uow() as uow:
        uow.session.execute(sa.update(tables.etablissement).where(tables.etablissement.c.finess == "690001011")
                            .values(finess="750000000"))
    result = api.ok(api.post(ADMIN, f"/api/v1/messages/{failing}/rejouer"))
    assert result == {"rejoues": [failing], "introuvables": []}
    body = api.ok(api.get(ADMIN, f"/api/v1/messages/{failing}"))  # the sync queue ran ingest.process
    assert body["statut"] == "processed"
    assert [h["resultat"] for h in body["historique"]] == ["dead", "replay", "processed"]
    assert body["historique"][1]["erreur"] == "rejoué par admin"
    assert api.ok(api.get(ADMIN, "/api/v1/messages/lettres-mortes"))["elements"] == []


def test_replay_many_by_ids_or_by_status(store_hl7: Any, api: Any) -> None:
    first = store_hl7(api, "adt_a28__creation")
    second = store_hl7(api, "adt_a31__update")
    api.container.run_task("ingest.process")
    result = api.ok(api.post(ADMIN, "/api/v1/messages/rejouer", json={"ids": [second, first, 424242]}))
    assert result == {"rejoues": [first, second], "introuvables": [424242]}
    by_status = api.ok(api.post(ADMIN, "/api/v1/messages/rejouer", json={"statut": "processed"}))
    assert by_status["rejoues"] == [first, second]
    api.problem(api.post(ADMIN, "/api/v1/messages/rejouer", json={}), 422, "messages.rejeu_vide")
    api.problem(api.post(ADMIN, "/api/v1/messages/424242/rejouer"), 404, "introuvable")


def test_a_fhir_message_shows_its_json_and_its_mapping(api: Any) -> None:
    raw = (PROJECT_ROOT / "samples" / "fhir" / "patient-provisoire.json").read_bytes()
    row = NewInboxMessage(source=InboxSource.FHIR, sender_app="dpi-fhir", sender_facility="", control_id="F-1",
                          message_type="FHIR", trigger_event="Patient", raw=raw, received_at=api.clock.now(),
                          version="4.0.1", charset="UTF-8")
    with api.container.uow() as uow:
        inbox_id = uow.inbox.add(row).inbox_id
    api.container.run_task("ingest.process")
    body = api.ok(api.get(ADMIN, f"/api/v1/messages/{inbox_id}"))
    assert body["source"] == "fhir" and '"resourceType"' in body["brut"]
    assert body["canonique"]["source"] == "fhir" and body["canonique"]["patient"]["identifiers"]
    assert body["statut"] == "processed", body["resultat"]
