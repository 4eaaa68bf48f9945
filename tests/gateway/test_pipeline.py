"""The ingest pipeline over the demo database (SQLite and PostgreSQL): inbox rows written as the listener writes
them, drained by ``ingest.process``; registry, outcomes, attempts, per-patient order, retries, dead letters."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.container import Container, build_container
from gateway.intake import Pipeline, PipelinePolicy
from gateway.settings import PROJECT_ROOT, Settings
from mappings.hl7v2 import parse
from orientation_core.clock import FrozenClock
from orientation_core.inbox.model import InboxSource, InboxStatus, NewInboxMessage
from orientation_core.patients.model import StatutIdentite, StatutSejour, TypeIdentifiantPatient
from orientation_core.persistence import tables

SAMPLES = PROJECT_ROOT / "samples" / "hl7v2"
T0 = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)
FINESS = "690001011"


def sample(name: str) -> bytes:
    return (SAMPLES / f"{name}.hl7").read_bytes()


def inbox_row(raw: bytes, received_at: dt.datetime = T0, control_id: str | None = None) -> NewInboxMessage:
    """What the listener stores: raw bytes + MSH fields + the patient key (PID-3 IPP ``CX-1^CX-4.1``)."""
    msg = parse(raw.decode("latin-1"))
    pid = msg.segment("PID")
    key = None
    if pid is not None:
        ipp = next((r for r in pid.field(3).reps if r.component(5) == "PI"), None)
        key = f"{ipp.component(1)}^{ipp.sub(4, 1)}" if ipp is not None else None
    return NewInboxMessage(
        source=InboxSource.HL7V2, sender_app=msg.msh.field(3).raw, sender_facility=msg.msh.field(4).raw,
        control_id=control_id if control_id is not None else msg.control_id, message_type=msg.message_type,
        trigger_event=msg.event, raw=raw, received_at=received_at, version=msg.version,
        charset=msg.msh.value(18), patient_key=key)


def store(container: Container, *raws: bytes | NewInboxMessage) -> list[int]:
    rows = [r if isinstance(r, NewInboxMessage) else inbox_row(r) for r in raws]
    with container.uow() as uow:
        return [uow.inbox.add(r).inbox_id for r in rows]


def rewrite(raw: bytes, replacements: dict[str, str]) -> bytes:
    text = raw.decode("latin-1")
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text.encode("latin-1")


@pytest.fixture
def container(demo_db: Any) -> Any:
    made = build_container(Settings(database_url=demo_db.url), clock=FrozenClock(T0), queue="sync")
    yield made
    made.engine.dispose()


def rows(container: Container) -> dict[int, Any]:
    with container.engine.connect() as conn:
        return {r.id: r for r in conn.execute(sa.select(tables.inbox_message).order_by(tables.inbox_message.c.id))}


def attempts(container: Container, inbox_id: int) -> list[str]:
    with container.uow() as uow:
        return [a.outcome for a in uow.intake.attempts(inbox_id)]


def test_a_patient_story_lands_in_the_registry_with_its_context(container: Container) -> None:
    ids = store(container, sample("adt_a28__creation"), sample("adt_a01__nominal"), sample("adt_a02__transfer"),
                sample("adt_a03__discharge"))
    report = container.run_task("ingest.process")
    assert report == {"processed": 4, "rejected": 0, "failed": 0, "dead": 0, "batches": 1}
    with container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "900001", FINESS)
        assert patient is not None and patient.id is not None
        assert (patient.nom_naissance, patient.prenoms, patient.nom_utilise) == ("ADRUN", ["ZOE", "MARIE"], "DUPONT")
        assert patient.statut_identite is StatutIdentite.QUALIFIEE and patient.lieu_naissance_code == "63220"
        ins = uow.patients.by_identifier(TypeIdentifiantPatient.INS_NIR, "275126322074974", "1.2.250.1.213.1.4.8")
        assert ins is not None and ins.id == patient.id
        (sejour,) = uow.patients.sejours(patient.id)
        assert (sejour.nda, sejour.statut, sejour.code_uf) == ("2026000123", StatutSejour.SORTI, "1102")
        assert sejour.unite_id is not None and sejour.id is not None
        assert [m.evenement for m in uow.patients.mouvements(sejour.id)] == ["A01", "A02", "A03"]
        (ctx,) = uow.patients.contextes(patient.id)
        donnees: dict[str, Any] = ctx.donnees
        assert donnees["medecin_traitant"]["rpps"] == "10100000058"
        assert {c["role"] for c in donnees["contacts"]} == {"personne_confiance"}  # the A01's NK1 is the latest
        assert [c["kind"] for c in donnees["coverages"]] == ["AMO"]
        assert ctx.provenance["medecin_traitant"] == "ROL[1]-4"
        assert ctx.provenance["identity_source"] == "ZFD-5" and donnees["nss"] == "275126322074974"
    final = rows(container)
    assert all(final[i].status == InboxStatus.PROCESSED for i in ids)
    outcome = final[ids[0]].outcome
    assert outcome["statut"] == "processed" and "patient.cree" in outcome["rapport"]["applique"]
    assert attempts(container, ids[0]) == ["processed"]
    again: Any = container.run_task("ingest.process")
    assert again["processed"] == 0  # nothing left: a second drain is a no-op


def test_invalid_messages_are_rejected_once_with_their_issues_and_hold_nobody(container: Container) -> None:
    ids = store(container, sample("neg__unknown_event"), sample("neg__wrong_zbe"),
                rewrite(sample("adt_a31__update"), {"HSE-A31-0001": "X-1"}))
    report: Any = container.run_task("ingest.process")
    assert report["rejected"] == 2 and report["processed"] == 1
    final = rows(container)
    assert final[ids[0]].status == InboxStatus.REJECTED
    assert [i["code"] for i in final[ids[0]].outcome["issues"]] == ["evenement.inconnu"]
    assert final[ids[1]].outcome["issues"][0]["message"].startswith("ZBE-4 vaut INSERT")
    assert final[ids[2]].status == InboxStatus.PROCESSED  # same patient, after two rejected rows
    assert attempts(container, ids[0]) == ["rejected"]  # never retried


def test_untrusted_ins_is_kept_out_of_the_registry_with_a_warning(container: Container) -> None:
    (bad_key,) = store(container, sample("neg__invalid_ins_key"))
    container.run_task("ingest.process")
    row = rows(container)[bad_key]
    assert row.status == InboxStatus.PROCESSED
    assert [i["code"] for i in row.outcome["issues"]] == ["ins.cle_invalide"]
    with container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "900001", FINESS)
        assert patient is not None and patient.id is not None
        assert [i.type for i in uow.patients.identifiers(patient.id)] == [TypeIdentifiantPatient.IPP]
        assert patient.statut_identite is StatutIdentite.VALIDEE
        assert row.outcome["rapport"]["recherche_ins"] == [patient.id]  # the INSi hook


def test_a_failing_message_blocks_its_patient_not_the_feed_then_dead_letter_and_replay(demo_db: Any) -> None:
    clock = FrozenClock(T0)
    container = build_container(Settings(database_url=demo_db.url), clock=clock, queue="sync")
    pipeline = Pipeline(container.uow, container.env, PipelinePolicy(max_attempts=3, backoff_base_seconds=10))
    unknown_site = rewrite(sample("adt_a01__nominal"), {"HSE&690001011&M^AN": "X&750000000&M^AN"})
    other = rewrite(sample("adt_a28__creation"), {"900001^": "900500^", "HSE-A28-0001": "OTHER-1",
                                                    "275126322074974^^^ASIP": "236066322083656^^^ASIP"})
    failing, later, independent = store(container, unknown_site, sample("adt_a31__update"), other)
    try:
        pipeline.drain()
        state = rows(container)
        assert state[failing].status == InboxStatus.FAILED
        assert state[failing].next_attempt_at == T0 + dt.timedelta(seconds=10)
        assert "etablissement.inconnu" in state[failing].last_error
        assert state[later].status == InboxStatus.RECEIVED  # waits behind its patient's failure
        assert state[independent].status == InboxStatus.PROCESSED  # the feed goes on
        pipeline.drain()  # not due yet: nothing happens
        assert rows(container)[failing].attempts == 1
        clock.advance(seconds=10)
        pipeline.drain()
        assert rows(container)[failing].next_attempt_at == T0 + dt.timedelta(seconds=30)  # 10 s, then 20 s
        clock.advance(seconds=20)
        pipeline.drain()
        state = rows(container)
        assert state[failing].status == InboxStatus.DEAD and state[failing].attempts == 3
        assert state[later].status == InboxStatus.PROCESSED  # a dead letter no longer holds the patient
        assert attempts(container, failing) == ["failed", "failed", "dead"]
        # the operator fixes the directory (the stay's établissement), then replays the dead letter
        with container.uow() as uow:
            uow.session.execute(sa.update(tables.etablissement).where(tables.etablissement.c.finess == FINESS)
                                .values(finess="750000000"))
        with container.uow() as uow:
            assert uow.intake.replay([failing], clock.now(), "admin") == [failing]
        pipeline.drain()
        state = rows(container)
        assert state[failing].status == InboxStatus.PROCESSED and state[failing].attempts == 1
        assert attempts(container, failing) == ["failed", "failed", "dead", "replay", "processed"]
    finally:
        container.engine.dispose()


def test_several_workers_apply_each_message_once_in_patient_order(container: Container, demo_db: Any) -> None:
    # 8 patients × 6 successive A31 updates of the used name: the last one must win for each patient. (Without
    # the INS: eight patients sharing one INS is a real conflict, covered by the registry tests.)
    raws: list[NewInboxMessage] = []
    base = sample("adt_a31__update").replace(
        b"~275126322074974^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS", b"")
    for step in range(6):
        for p in range(8):
            raw = rewrite(base, {"900001^": f"2000{p:02d}^", "MARTIN^ZOE": f"NOM{step}^ZOE"})
            raws.append(inbox_row(raw, control_id=f"W-{p}-{step}"))
    store(container, *raws)
    policy = PipelinePolicy(batch_size=5)
    errors: list[BaseException] = []

    def work() -> None:
        worker = build_container(Settings(database_url=demo_db.url), clock=FrozenClock(T0), queue="sync")
        try:
            Pipeline(worker.uow, worker.env, policy).drain()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            worker.engine.dispose()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    Pipeline(container.uow, container.env, policy).drain()  # whatever a worker left when it saw nothing due
    state = rows(container)
    assert all(r.status == InboxStatus.PROCESSED for r in state.values())
    with container.engine.connect() as conn:
        counts: dict[int, int] = dict(conn.execute(sa.select(tables.inbox_attempt.c.inbox_id, sa.func.count())
                                   .group_by(tables.inbox_attempt.c.inbox_id)).all())
    assert set(counts.values()) == {1}  # each message applied exactly once
    with container.uow() as uow:
        for p in range(8):
            patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, f"2000{p:02d}", FINESS)
            assert patient is not None and patient.nom_utilise == "NOM5", p


def test_every_sample_goes_through_the_pipeline_without_an_unexpected_failure(container: Container) -> None:
    """All golden samples, in file order: each is processed or rejected as its golden file says."""
    import json

    files = sorted(Path(SAMPLES).glob("*.hl7"))
    ids = store(container, *[inbox_row(f.read_bytes(), control_id=f.stem) for f in files])
    container.run_task("ingest.process")
    state = rows(container)
    for path, inbox_id in zip(files, ids, strict=True):
        golden = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
        expected = InboxStatus.PROCESSED if golden["outcome"] == "accepted" else InboxStatus.REJECTED
        assert state[inbox_id].status == expected, (path.name, state[inbox_id].outcome)


def fhir_row(name: str, control_id: str) -> NewInboxMessage:
    raw = (PROJECT_ROOT / "samples" / "fhir" / f"{name}.json").read_bytes()
    return NewInboxMessage(source=InboxSource.FHIR, sender_app="dpi-fhir", sender_facility="", control_id=control_id,
                           message_type="FHIR", trigger_event="Bundle", raw=raw, received_at=T0, version="4.0.1",
                           charset="UTF-8", patient_key=None)


def test_fhir_rows_go_through_the_same_registry_path(container: Container) -> None:
    (inbox_id,) = store(container, fhir_row("bundle-transaction-sanitaire", "fhir-1"))
    container.run_task("ingest.process")
    row = rows(container)[inbox_id]
    assert row.status == InboxStatus.PROCESSED, row.outcome
    with container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "200451", FINESS)
        assert patient is not None and patient.id is not None
        assert patient.statut_identite is StatutIdentite.QUALIFIEE
        assert ("ins_nir", "275126322074974") in {(i.type.value, i.valeur) for i in uow.patients.identifiers(patient.id)}
        (sejour,) = uow.patients.sejours(patient.id)
        assert (sejour.nda, sejour.statut, sejour.code_uf) == ("26000123", StatutSejour.EN_COURS, "1101")
        (contexte,) = uow.patients.contextes(patient.id)
        assert contexte.source == "fhir"
        # the admission request (ServiceRequest) is kept with the context, so a dossier opened later is prefilled
        assert contexte.donnees["admission_request"]["type_orientation"] == "SMR"
        assert contexte.provenance["admission_request.type_orientation"] == "Bundle.entry[11].resource.code.coding[0].code"


def test_a_new_provisional_identity_queues_an_insi_lookup(container: Container) -> None:
    store(container, sample("neg__ins_without_vali"))
    pipeline = Pipeline(container.uow, container.env)
    woken: list[list[int]] = []
    pipeline.on_ins_lookup.append(woken.append)
    pipeline.drain()
    with container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "900001", FINESS)
        assert patient is not None and patient.id is not None
        assert [r.patient_id for r in uow.identite.recherches(patient.id)] == [patient.id]
    assert woken == [[patient.id]]
    # the next movement of the same identity (no strict trait changed) does not ask again
    store(container, rewrite(sample("adt_a01__nominal"), {"|VALI": "|PROV"}))
    woken.clear()
    pipeline.drain()
    assert woken == []


def test_a_sender_that_does_not_allow_insi_lookups_queues_none(container: Container) -> None:
    """AIGUILLAGE_INSI_EXCLUDED_SENDERS: the same new provisional identity, from a sender that runs its own INSi
    calls, is registered but no look-up is queued; the task wires the setting into the pipeline."""
    store(container, sample("neg__ins_without_vali"))
    container.settings.insi_excluded_senders = ["DPI_HSE"]  # MSH-3 of the samples
    container.run_task("ingest.process")
    with container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "900001", FINESS)
        assert patient is not None and patient.id is not None
        assert uow.identite.recherches(patient.id) == []


def test_a40_moves_the_merged_patients_dossiers_to_the_survivor(container: Container) -> None:
    with container.uow() as uow:
        gone = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "100002", FINESS)  # demo: Nguyen Bao
        assert gone is not None and gone.id is not None
        dossiers = [d.id for d in uow.dossiers.for_patient(gone.id)]
    assert dossiers, "the demo patient has dossiers"
    merge = rewrite(sample("adt_a40__merge"), {"900009^": "100002^"})
    store(container, sample("adt_a28__creation"), merge)
    container.run_task("ingest.process")
    with container.uow() as uow:
        survivor = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "900001", FINESS)
        assert survivor is not None and survivor.id is not None
        assert uow.patients.get(gone.id).merged_into_id == survivor.id
        moved = uow.dossiers.for_patient(survivor.id)
        assert sorted(d.id or 0 for d in moved) == sorted(d or 0 for d in dossiers)
        assert {d.patient_nom_affiche for d in moved} == {survivor.nom_affiche}
        # the merged-away IPP now designates the survivor
        found = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "100002", FINESS)
        assert found is not None and found.id == survivor.id


def test_a_blocked_patients_backlog_does_not_stall_the_feed(demo_db: Any) -> None:
    """More waiting rows of a failing patient than a batch holds, then another patient: the other one goes on."""
    container = build_container(Settings(database_url=demo_db.url), clock=FrozenClock(T0), queue="sync")
    try:
        pipeline = Pipeline(container.uow, container.env, PipelinePolicy(batch_size=3, max_attempts=5))
        failing = rewrite(sample("adt_a01__nominal"), {"HSE&690001011&M^AN": "X&750000000&M^AN"})
        backlog = [inbox_row(rewrite(sample("adt_a31__update"), {"MARTIN^ZOE": f"NOM{i}^ZOE"}), control_id=f"BL-{i}")
                   for i in range(7)]
        other = rewrite(sample("adt_a28__creation"), {"900001^": "900777^", "HSE-A28-0001": "OTHER-9"})
        ids = store(container, failing, *backlog, other)
        pipeline.drain()
        state = rows(container)
        assert state[ids[0]].status == InboxStatus.FAILED
        assert all(state[i].status == InboxStatus.RECEIVED for i in ids[1:-1])  # the backlog waits, in order
        assert state[ids[-1]].status == InboxStatus.PROCESSED  # the feed goes on
    finally:
        container.engine.dispose()


def test_one_batch_of_several_stories_writes_every_row_and_renames_dossiers(container: Container) -> None:
    """New patients and stays written at the end of the batch (pooled ids), a known patient renamed (its dossiers
    follow), INSi look-ups queued for the provisional identities: all in one batch, each row processed once."""
    other = {"900001^": "900002^", "|VALI": "|PROV", "2026000123^": "2026000456^", "HSE-A28-0001": "O-A28",
             "HSE-A01-0003": "O-A01"}
    with container.uow() as uow:
        known = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "100002", FINESS)  # demo: Nguyen Bao
        assert known is not None and known.id is not None and uow.dossiers.for_patient(known.id)
    ids = store(container, sample("adt_a28__creation"), rewrite(sample("adt_a28__creation"), other),
                sample("adt_a01__nominal"), rewrite(sample("adt_a01__nominal"), other),
                rewrite(sample("adt_a31__update"), {"900001^": "100002^", "|VALI": "|PROV"}),
                sample("adt_a02__transfer"), sample("adt_a03__discharge"))
    pipeline = Pipeline(container.uow, container.env)
    woken: list[list[int]] = []
    pipeline.on_ins_lookup.append(woken.append)
    report = pipeline.drain()
    assert report.as_dict() == {"processed": 7, "rejected": 0, "failed": 0, "dead": 0, "batches": 1}
    assert all(attempts(container, i) == ["processed"] for i in ids)
    with container.uow() as uow:
        first = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "900001", FINESS)
        second = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "900002", FINESS)
        assert first is not None and first.id is not None and second is not None and second.id is not None
        assert first.id != second.id
        (stay,) = uow.patients.sejours(first.id)
        assert stay.id is not None and stay.statut is StatutSejour.SORTI
        assert [m.evenement for m in uow.patients.mouvements(stay.id)] == ["A01", "A02", "A03"]
        (stay2,) = uow.patients.sejours(second.id)
        assert stay2.id is not None and (stay2.nda, stay2.statut) == ("2026000456", StatutSejour.EN_COURS)
        assert [(m.evenement, m.patient_id) for m in uow.patients.mouvements(stay2.id)] == [("A01", second.id)]
        assert {c.patient_id for c in uow.patients.contextes(second.id)} == {second.id}
        renamed = uow.patients.get(known.id)
        assert renamed.nom_naissance == "ADRUN"
        assert {d.patient_nom_affiche for d in uow.dossiers.for_patient(known.id)} == {renamed.nom_affiche}
        # one look-up per provisional identity (the new one, and the known one whose strict traits changed),
        # its id in the identity trace
        for pid in (second.id, known.id):
            (recherche,) = [r for r in uow.identite.recherches(pid) if r.motif == "intake"]
            traces = [tr for tr in uow.identite.traces(pid) if tr.action == "recherche_demandee"]
            assert [tr.details["recherche_id"] for tr in traces] == [recherche.id]
        assert not uow.identite.recherches(first.id)  # qualified: nothing to ask
    assert woken == [[second.id, known.id]]


def test_an_ins_withdrawn_then_sent_again_in_one_batch(container: Container) -> None:
    store(container, sample("adt_a28__creation"))
    container.run_task("ingest.process")
    down, up = store(container, rewrite(sample("adt_a31__update"), {"|VALI": "|PROV"}),
                     rewrite(sample("adt_a31__update"), {"HSE-A31-0001": "HSE-A31-0002"}))
    assert container.run_task("ingest.process") == {"processed": 2, "rejected": 0, "failed": 0, "dead": 0,
                                                    "batches": 1}
    state = rows(container)
    assert [c["code"] for c in state[down].outcome["rapport"]["conflits"]] == ["ins.retire"]
    assert "ins.enregistre" in state[up].outcome["rapport"]["applique"]
    assert attempts(container, down) == attempts(container, up) == ["processed"]
    with container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "900001", FINESS)
        assert patient is not None and patient.id is not None
        assert sorted(i.type.value for i in uow.patients.identifiers(patient.id)) == sorted(
            [TypeIdentifiantPatient.IPP.value, TypeIdentifiantPatient.INS_NIR.value])


def test_pooled_ids_never_repeat_within_a_transaction(container: Container) -> None:
    """The batch takes ids before it writes its rows: a second allocation starts above the first one's."""
    with container.uow() as uow:
        uow.intake.lock_writes()
        top = uow.session.scalar(sa.select(sa.func.max(tables.patient.c.id))) or 0
        first = uow.intake.allocate_ids("patient", 3)
        second = uow.intake.allocate_ids("patient", 2, after=first[-1])
        assert len(set(first + second)) == 5 and min(first) > top and min(second) > max(first)
        uow.rollback()


def test_new_dpi_data_refreshes_the_open_dossier_through_the_pipeline(container: Container) -> None:
    """The pipeline itself refreshes the patient's open dossier after a batch: an unedited field follows the DPI,
    an edited one keeps the user's value and shows the DPI's; a patient with no open dossier is left alone."""
    from orientation_core.dossier import service as dossier_service
    from orientation_core.dossier.volets import Module

    store(container, sample("adt_a01__nominal"))
    container.run_task("ingest.process")
    with container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "900001", FINESS)
        martin = uow.users.by_login("810100000017")
        unite = uow.directory.unite_by_code(uow.directory.etablissement_by_finess(FINESS).id or 0, "1101")
        assert patient is not None and patient.id is not None and martin is not None and unite is not None
        dossier = dossier_service.creer(uow, container.env, martin.id or 0, Module.SANITAIRE, patient.id,
                                        unite_id=unite.id)
        dossier_id = dossier.id or 0
    from gateway import prefill

    with container.uow() as uow:  # what the API does on creation
        prefill.prefill_dossier(uow, container.env, dossier_id, user_id=martin.id)
    with container.uow() as uow:
        before = uow.dossiers.get(dossier_id).volets["administratif_social"]
        assert before["telephone"] == "0478000000"
        dossier_service.modifier_volet(uow, container.env, martin.id or 0, dossier_id, "administratif_social",
                                       {"telephone": "0611111111"})
    a31 = rewrite(sample("adt_a01__nominal"), {"HSE-A01-0003": "HSE-A01-0004", "0478000000": "0478999999",
                                               "12 rue des Lilas": "3 place Bellecour"})
    store(container, a31)
    container.run_task("ingest.process")
    with container.uow() as uow:
        dossier = uow.dossiers.get(dossier_id)
        admin = dossier.volets["administratif_social"]
        assert admin["telephone"] == "0611111111", "the user's edit is kept"
        assert admin["adresse"].startswith("3 place Bellecour"), "an unedited field follows the DPI"
        flagged = dossier.provenance["administratif_social"]["telephone"]
        assert flagged["differe"] is True and flagged["valeur_dpi"] == "0478999999"
