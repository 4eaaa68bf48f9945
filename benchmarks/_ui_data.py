"""What the UI pages read beyond the dashboard benchmark's data set: each dossier's history and the inbox of
received messages. Added once to the ``aiguillage_bench`` database built by ``benchmarks/dashboard.py`` (the
dashboard benchmark does not read these tables, so its ``--reuse`` is unaffected).

* history: the events the services would have recorded for the generated rows — dossier created, two volets
  edited, units selected, each demande sent and its answer (précision, accord, acceptation, refus), the
  confirmation, the admission, the cancellations and archivals — by the dossier's author and a receveur of the
  unit; about 1.1 million rows for 100,000 dossiers, derived in SQL from the dossier and demande rows;
* inbox: 50,000 HL7 v2 ADT messages (IHE PAM France shape) from two senders over the last 30 days, mostly
  processed, some failed, rejected or dead letters, each with its attempts.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from typing import Any

import psycopg

MARK_RECEIVER = "BENCH_UI"  # MSH-5 of this generator's messages (their presence says the top-up was done)
INBOX_MESSAGES = 50_000

ANSWER_ACTIONS = {  # demande status → the answer that led there (a receveur's action)
    "demande_de_precision": "demander_precision", "accord_de_principe": "accorder", "acceptee": "accepter",
    "refusee": "refuser", "confirmee": "accepter", "admission_finalisee": "accepter",
}

HISTORY_SQL = """
INSERT INTO history_event (dossier_id, demande_id, at, action, actor_kind, actor_user_id, avant, apres)
SELECT id, NULL::integer, created_at, 'dossier.creer', 'prescripteur', created_by_id, '{}'::jsonb,
       jsonb_build_object('numero', numero, 'module', module)
  FROM dossier
UNION ALL
SELECT id, NULL, created_at + interval '20 minutes', 'volet.administratif_social.modifier', 'prescripteur',
       created_by_id, '{"adresse": null}'::jsonb, jsonb_build_object('adresse', '12 rue des Lilas')
  FROM dossier WHERE module = 'sanitaire'
UNION ALL
SELECT id, NULL, created_at + interval '50 minutes', 'volet.medical.modifier', 'prescripteur', created_by_id,
       '{"traitements": null}'::jsonb, jsonb_build_object('traitements', volets -> 'medical' -> 'traitements')
  FROM dossier WHERE volets ? 'medical'
UNION ALL
SELECT dossier_id, NULL, min(created_at), 'demande.selectionner', 'prescripteur', NULL, '{}'::jsonb,
       jsonb_build_object('unites', count(*))
  FROM demande GROUP BY dossier_id
UNION ALL
SELECT dossier_id, id, envoyee_at, 'demande.envoyer', 'prescripteur', NULL,
       '{"statut": "en_cours_de_redaction"}'::jsonb, '{"statut": "en_attente_de_reponse"}'::jsonb
  FROM demande WHERE envoyee_at IS NOT NULL
UNION ALL
SELECT dm.dossier_id, dm.id, dm.statut_at - interval '1 hour' * (dm.statut IN ('confirmee', 'admission_finalisee'))::int * 48,
       'demande.' || (%(answers)s::jsonb ->> dm.statut), 'receveur', r.user_id,
       '{"statut": "en_attente_de_reponse"}'::jsonb,
       jsonb_build_object('statut', CASE WHEN dm.statut IN ('confirmee', 'admission_finalisee') THEN 'acceptee'
                                         ELSE dm.statut END, 'motif', dm.motif)
  FROM demande dm
  LEFT JOIN LATERAL (SELECT h.user_id FROM habilitation h WHERE h.unite_id = dm.unite_id ORDER BY h.id LIMIT 1) r
         ON true
 WHERE dm.statut IN ('demande_de_precision', 'accord_de_principe', 'acceptee', 'refusee', 'confirmee',
                     'admission_finalisee')
UNION ALL
SELECT dm.dossier_id, dm.id, dm.statut_at - interval '24 hours' * (dm.statut = 'admission_finalisee')::int,
       'demande.confirmer', 'prescripteur', d.created_by_id, '{"statut": "acceptee"}'::jsonb,
       '{"statut": "confirmee"}'::jsonb
  FROM demande dm JOIN dossier d ON d.id = dm.dossier_id
 WHERE dm.statut IN ('confirmee', 'admission_finalisee')
UNION ALL
SELECT dossier_id, id, statut_at, 'demande.finaliser_admission', 'receveur', NULL, '{"statut": "confirmee"}'::jsonb,
       '{"statut": "admission_finalisee"}'::jsonb
  FROM demande WHERE statut = 'admission_finalisee'
UNION ALL
SELECT dossier_id, id, coalesce(annulee_at, statut_at), 'demande.annuler_systeme', 'system', NULL,
       '{"statut": "en_attente_de_reponse"}'::jsonb, jsonb_build_object('statut', 'annulee', 'motif', motif)
  FROM demande WHERE statut IN ('annulee', 'archivee')
UNION ALL
SELECT dossier_id, id, statut_at, 'demande.archiver', 'system', NULL, '{"statut": "annulee"}'::jsonb,
       '{"statut": "archivee"}'::jsonb
  FROM demande WHERE statut = 'archivee'
UNION ALL
SELECT id, NULL, annule_at, 'dossier.annuler', 'prescripteur', created_by_id, '{}'::jsonb,
       jsonb_build_object('motif', motif_annulation)
  FROM dossier WHERE annule_at IS NOT NULL
"""


def _adt(i: int, at: dt.datetime, rng: random.Random) -> bytes:
    event = rng.choice(("A01", "A01", "A02", "A03", "A04", "A05", "A08", "A28", "A31", "Z99"))
    ipp = f"{200000 + rng.randrange(80_000)}"
    stamp = at.strftime("%Y%m%d%H%M%S")
    segments = [
        f"MSH|^~\\&|{'DXCARE' if i % 3 else 'ORBIS'}|690001011|{MARK_RECEIVER}|AIGUILLAGE|{stamp}||ADT^{event}^ADT_A01|"
        f"MSG{i:08d}|P|2.5^FRA^2.11|||||FRA|8859/15",
        f"EVN||{stamp}",
        f"PID|||{ipp}^^^CHU&1.2.250.1.71.4.2.2&ISO^PI||MARTIN^JEANNE^^^^^L||19470312|F|||12 rue des Lilas^^Lyon^^69003^FRA",
        f"PV1||I|MED^101^1^^^^^^^1101|||||||||||||||{i:09d}^^^CHU&1.2.250.1.71.4.2.2&ISO^AN",
        f"ZBE|MVT{i:08d}|{stamp}||INSERT|N",
    ]
    return "\r".join(segments).encode("iso-8859-15") + b"\r"


def ensure(conn: psycopg.Connection[Any], now: dt.datetime, seed: int) -> dict[str, Any]:
    """Add the history and the inbox once; returns what was added (nothing when already there)."""
    found = conn.execute("SELECT count(*) FROM inbox_message WHERE control_id LIKE 'MSG%' "
                         "AND sender_facility = '690001011'").fetchone()
    if found and found[0]:
        return {}
    t0 = time.perf_counter()
    added: dict[str, Any] = {}
    with conn.transaction():
        cur = conn.execute(HISTORY_SQL, {"answers": json.dumps(ANSWER_ACTIONS)})
        added["history_event"] = cur.rowcount
        rng = random.Random(seed + 11)
        statuses = rng.choices(("processed", "failed", "rejected", "dead", "received"), (90, 3, 3, 3, 1),
                               k=INBOX_MESSAGES)
        with conn.cursor() as c, c.copy(
                "COPY inbox_message (source, sender_app, sender_facility, control_id, message_type, trigger_event,"
                " message_structure, version, charset, patient_key, received_at, raw, flags, ack, accept_ack_type,"
                " app_ack_type, status, attempts, next_attempt_at, last_error, outcome, processed_at) "
                "FROM STDIN") as copy:
            for i in range(INBOX_MESSAGES):
                at = now - dt.timedelta(seconds=(INBOX_MESSAGES - i) * 30 * 86400 / INBOX_MESSAGES)
                raw = _adt(i, at, rng)
                status = statuses[i]
                failed = status in ("failed", "dead", "rejected")
                copy.write_row((
                    "hl7v2", "DXCARE" if i % 3 else "ORBIS", "690001011", f"MSG{i:08d}", "ADT",
                    raw.split(b"|")[8].split(b"^")[1].decode(), "ADT_A01", "2.5^FRA^2.11", "8859/15",
                    f"690001011/{raw.split(b'PID|||')[1].split(b'^')[0].decode()}", at, raw, "[]",
                    b"MSH|^~\\&|AIGUILLAGE|AIGUILLAGE|DXCARE|690001011|" + at.strftime("%Y%m%d%H%M%S").encode()
                    + b"||ACK^A01^ACK|A" + str(i).encode() + b"|P|2.5\rMSA|AA|MSG" + f"{i:08d}".encode() + b"\r",
                    "", "", status, 5 if status == "dead" else 1 + failed, at + dt.timedelta(minutes=5)
                    if status == "failed" else None,
                    "PID-3 : IPP absent ou illisible" if failed else None,
                    json.dumps({"patient_id": rng.randrange(1, 80_000)}) if status == "processed" else None,
                    at + dt.timedelta(seconds=1) if status in ("processed", "rejected", "dead") else None))
        cur = conn.execute(
            "INSERT INTO inbox_attempt (inbox_id, at, outcome, error) "
            "SELECT m.id, m.received_at + interval '1 second' * g, "
            "CASE WHEN m.status = 'processed' THEN 'processed' ELSE 'failed' END, m.last_error "
            "FROM inbox_message m CROSS JOIN LATERAL generate_series(1, m.attempts) g "
            "WHERE m.control_id LIKE 'MSG%' AND m.status <> 'received'")
        added["inbox_attempt"] = cur.rowcount
        added["inbox_message"] = INBOX_MESSAGES
    conn.execute("ANALYZE history_event")
    conn.execute("ANALYZE inbox_message")
    conn.execute("ANALYZE inbox_attempt")
    added["seconds"] = round(time.perf_counter() - t0, 1)
    return added
