"""Tables. Indexes follow the queries they serve (dashboards, sweeps, look-ups); the comments name them."""

from __future__ import annotations

import sqlalchemy as sa

from orientation_core.demande.workflow import Status
from orientation_core.directory.model import Secteur, TypeUnite
from orientation_core.dossier.model import EtatDossier
from orientation_core.dossier.volets import Module
from orientation_core.identite.model import PieceIdentite, StatutConflit, StatutRecherche, TypeRecherche
from orientation_core.inbox.model import InboxSource, InboxStatus
from orientation_core.patients.model import Sexe, StatutIdentite, StatutSejour, TypeIdentifiantPatient
from orientation_core.people.model import Role, TypeDelegation, TypeIdentifiant
from orientation_core.persistence.types import JSONType, UtcDateTime, enum_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING)


def _str(name: str, length: int = 255, **kw: object) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=False, server_default="", **kw)  # type: ignore[arg-type]


etablissement = sa.Table(
    "etablissement", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("finess", sa.String(9), nullable=False, unique=True),
    sa.Column("nom", sa.String(255), nullable=False),
    sa.Column("secteur", enum_column(Secteur), nullable=False),
    _str("adresse"), sa.Column("code_postal", sa.String(5)), _str("ville", 120), _str("telephone", 30),
    sa.Column("created_at", UtcDateTime),
)

unite = sa.Table(
    "unite", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("etablissement_id", sa.ForeignKey("etablissement.id"), nullable=False),
    sa.Column("code_uf", sa.String(32), nullable=False),
    sa.Column("nom", sa.String(255), nullable=False),
    sa.Column("type", enum_column(TypeUnite), nullable=False, index=True),
    sa.Column("mention", sa.String(64)),
    sa.Column("capacite", sa.Integer),
    sa.Column("pathologies", JSONType, nullable=False),
    sa.Column("besoins_acceptes", JSONType, nullable=False),
    sa.Column("equipements", JSONType, nullable=False),
    sa.Column("code_postal", sa.String(5)),
    sa.Column("latitude", sa.Float), sa.Column("longitude", sa.Float),
    sa.Column("ror_id", sa.String(64), unique=True),
    sa.Column("actif", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.UniqueConstraint("etablissement_id", "code_uf"),
)

utilisateur = sa.Table(
    "utilisateur", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("identifiant_national", sa.String(12), unique=True),
    sa.Column("identifiant_local", sa.String(64), unique=True),
    sa.Column("type_identifiant", enum_column(TypeIdentifiant), nullable=False),
    sa.Column("nom", sa.String(120), nullable=False), sa.Column("prenom", sa.String(120), nullable=False),
    sa.Column("email", sa.String(255), nullable=False),
    _str("profession", 64), _str("specialite", 120), _str("telephone", 30),
    sa.Column("code_postal", sa.String(5)), _str("ville", 120),
    sa.Column("forme_ins", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("alertes_email", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("actif", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("administrateur", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UtcDateTime),
)

habilitation = sa.Table(
    "habilitation", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("utilisateur.id"), nullable=False, index=True),
    sa.Column("role", enum_column(Role), nullable=False),
    sa.Column("etablissement_id", sa.ForeignKey("etablissement.id"), nullable=False),
    sa.Column("unite_id", sa.ForeignKey("unite.id")),
    sa.Column("granted_by_id", sa.ForeignKey("utilisateur.id")),
    sa.Column("granted_at", UtcDateTime),
    sa.Index("ix_habilitation_unite_role", "unite_id", "role"),  # notification recipients
    sa.Index("ix_habilitation_etablissement_role", "etablissement_id", "role"),  # "Mes référents"
)

delegation = sa.Table(
    "delegation", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("delegant_id", sa.ForeignKey("utilisateur.id"), nullable=False, index=True),
    sa.Column("delegataire_id", sa.ForeignKey("utilisateur.id"), nullable=False, index=True),
    sa.Column("type", enum_column(TypeDelegation), nullable=False),
    sa.Column("debut", UtcDateTime, nullable=False), sa.Column("fin", UtcDateTime, nullable=False),
    sa.Column("droits", JSONType, nullable=False),
    sa.Column("accepted_at", UtcDateTime), sa.Column("revoked_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime),
)

patient = sa.Table(
    "patient", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("nom_naissance", sa.String(120), nullable=False),
    sa.Column("prenoms", JSONType, nullable=False),
    sa.Column("date_naissance", sa.Date, nullable=False, index=True),
    sa.Column("sexe", enum_column(Sexe, 1), nullable=False),
    _str("nom_utilise", 120), _str("prenom_utilise", 120), _str("lieu_naissance_code", 5),
    sa.Column("statut_identite", enum_column(StatutIdentite), nullable=False),
    sa.Column("attributs", JSONType, nullable=False),
    _str("adresse"), _str("code_postal", 10), _str("ville", 120), _str("telephone", 30),
    _str("nom_recherche", 255, index=True), _str("nom_naissance_recherche", 255, index=True),
    sa.Column("merged_into_id", sa.ForeignKey("patient.id")),
    sa.Column("created_at", UtcDateTime), sa.Column("updated_at", UtcDateTime),
)

patient_identifiant = sa.Table(
    "patient_identifiant", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("patient_id", sa.ForeignKey("patient.id"), nullable=False, index=True),
    sa.Column("type", enum_column(TypeIdentifiantPatient), nullable=False),
    sa.Column("valeur", sa.String(64), nullable=False),
    _str("autorite", 64),
    sa.UniqueConstraint("type", "valeur", "autorite"),
)

sejour = sa.Table(
    "sejour", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("patient_id", sa.ForeignKey("patient.id"), nullable=False, index=True),
    sa.Column("etablissement_id", sa.ForeignKey("etablissement.id"), nullable=False),
    sa.Column("nda", sa.String(64), nullable=False),
    sa.Column("date_entree", UtcDateTime), sa.Column("date_sortie", UtcDateTime),
    sa.Column("statut", enum_column(StatutSejour), nullable=False),
    sa.Column("unite_id", sa.ForeignKey("unite.id")),
    _str("code_uf", 32), _str("classe", 8),
    sa.UniqueConstraint("etablissement_id", "nda"),
)

dossier = sa.Table(
    "dossier", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("numero", sa.String(16), nullable=False, server_default=""),
    sa.Column("module", enum_column(Module), nullable=False),
    sa.Column("patient_id", sa.ForeignKey("patient.id"), nullable=False, index=True),
    sa.Column("created_by_id", sa.ForeignKey("utilisateur.id"), nullable=False),
    sa.Column("etablissement_id", sa.ForeignKey("etablissement.id")),
    sa.Column("unite_id", sa.ForeignKey("unite.id")),
    sa.Column("owner_user_id", sa.ForeignKey("utilisateur.id")),
    sa.Column("sejour_id", sa.ForeignKey("sejour.id")),
    sa.Column("etat", enum_column(EtatDossier), nullable=False),
    sa.Column("volets", JSONType, nullable=False),
    _str("type_orientation", 32),
    sa.Column("anticipee", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("retour_domicile_date", sa.Date),
    sa.Column("bloc_note", sa.Text, nullable=False, server_default=""),
    sa.Column("nb_pieces_jointes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("dossier_lie_id", sa.ForeignKey("dossier.id")),
    sa.Column("relance_auto_at", UtcDateTime),
    sa.Column("annule_at", UtcDateTime),
    _str("motif_annulation", 500),
    sa.Column("derniere_action_at", UtcDateTime),
    sa.Column("derniere_action_prescripteur_at", UtcDateTime),
    _str("patient_nom_recherche"), _str("patient_nom_naissance_recherche"), _str("patient_nom_affiche"),
    sa.Column("created_at", UtcDateTime), sa.Column("updated_at", UtcDateTime),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # prescripteur dashboard: a unit's (or a libéral's) dossiers by state, most recent action first
    sa.Index("ix_dossier_unite_etat_action", "unite_id", "etat", "derniere_action_at"),
    sa.Index("ix_dossier_owner_etat_action", "owner_user_id", "etat", "derniere_action_at"),
    # search by dossier number and by name prefix (pattern ops so LIKE 'X%' uses the index on PostgreSQL)
    sa.Index("ix_dossier_numero", "numero"),
    sa.Index("ix_dossier_nom", "patient_nom_recherche",
             postgresql_ops={"patient_nom_recherche": "varchar_pattern_ops"}),
    sa.Index("ix_dossier_nom_naissance", "patient_nom_naissance_recherche",
             postgresql_ops={"patient_nom_naissance_recherche": "varchar_pattern_ops"}),
    # timer sweep
    sa.Index("ix_dossier_etat_action", "etat", "derniere_action_at"),
    sa.Index("ix_dossier_relance_auto", "relance_auto_at"),
    sa.Index("ix_dossier_etat_annule", "etat", "annule_at"),
)

demande = sa.Table(
    "demande", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dossier_id", sa.ForeignKey("dossier.id"), nullable=False),
    sa.Column("unite_id", sa.ForeignKey("unite.id"), nullable=False),
    sa.Column("statut", enum_column(Status), nullable=False),
    sa.Column("statut_at", UtcDateTime),
    sa.Column("envoyee_at", UtcDateTime),
    sa.Column("motif", sa.Text, nullable=False, server_default=""),
    sa.Column("question", sa.Text, nullable=False, server_default=""),
    sa.Column("reponse_precision", sa.Text, nullable=False, server_default=""),
    sa.Column("date_debut", sa.Date), sa.Column("date_fin", sa.Date), sa.Column("date_admission", sa.Date),
    sa.Column("a_renvoyer", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("relance_receveur_at", UtcDateTime), sa.Column("relance_prescripteur_at", UtcDateTime),
    sa.Column("annulee_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime), sa.Column("updated_at", UtcDateTime),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ix_demande_dossier_statut", "dossier_id", "statut"),  # a dossier's demandes, status filters
    sa.Index("ix_demande_unite_statut_at", "unite_id", "statut_at"),  # receveur list, newest first
    sa.Index("ix_demande_unite_statut_statut_at", "unite_id", "statut", "statut_at"),  # receveur list by status
    sa.Index("ix_demande_statut_annulee", "statut", "annulee_at"),  # archival sweep
    sa.Index("ix_demande_statut_relance", "statut", "relance_prescripteur_at"),  # cancellation after relance
)

piece_jointe = sa.Table(
    "piece_jointe", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dossier_id", sa.ForeignKey("dossier.id"), nullable=False, index=True),
    sa.Column("nom", sa.String(255), nullable=False),
    sa.Column("type_mime", sa.String(100), nullable=False),
    sa.Column("taille", sa.Integer, nullable=False),
    _str("categorie", 64), _str("storage_key", 255),
    sa.Column("added_by_id", sa.ForeignKey("utilisateur.id"), nullable=False),
    sa.Column("added_at", UtcDateTime, nullable=False),
)

piece_jointe_contenu = sa.Table(  # the file itself, read only when it is downloaded
    "piece_jointe_contenu", metadata,
    sa.Column("piece_jointe_id", sa.ForeignKey("piece_jointe.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("contenu", sa.LargeBinary, nullable=False),
)

history_event = sa.Table(
    "history_event", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dossier_id", sa.ForeignKey("dossier.id"), nullable=False),
    sa.Column("demande_id", sa.ForeignKey("demande.id")),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("actor_kind", sa.String(32), nullable=False),
    sa.Column("actor_user_id", sa.ForeignKey("utilisateur.id")),
    sa.Column("avant", JSONType, nullable=False),
    sa.Column("apres", JSONType, nullable=False),
    sa.Index("ix_history_event_dossier_at", "dossier_id", "at"),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("dispatched_at", UtcDateTime),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_outbox_pending", "dispatched_at", "id"),
)

notification = sa.Table(
    "notification", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("utilisateur.id"), nullable=False),
    sa.Column("titre", sa.String(255), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("dossier_id", sa.ForeignKey("dossier.id")),
    sa.Column("demande_id", sa.ForeignKey("demande.id")),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("lu_at", UtcDateTime),
    sa.Index("ix_notification_user_created", "user_id", "created_at"),
)

# ====================================================================================================================
# Areas added by the intake, identity and prefill work. Each area keeps its tables in its own section below; its
# migration is its own Alembic revision (several heads are upgraded together, `upgrade heads`).
# ====================================================================================================================

# --- inbox: every inbound HL7 / FHIR message, stored before it is acknowledged ---------------------------------------

# Written by the intake edges before they acknowledge (hl7_listeners: group commit of raw bytes + MSH fields);
# read and updated by the pipeline. Unique on the dedup key so a resend is answered with the stored ACK.
# ix_inbox_message_status_id: the pipeline's "next pending" scan; ix_inbox_message_patient_key_id: per-patient
# order (earlier rows of a patient first).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite auto-increments INTEGER PRIMARY KEY only

inbox_message = sa.Table(
    "inbox_message", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("source", enum_column(InboxSource, 16), nullable=False),
    sa.Column("sender_app", sa.String(255), nullable=False),
    sa.Column("sender_facility", sa.String(255), nullable=False),
    sa.Column("control_id", sa.String(255), nullable=False),
    sa.Column("message_type", sa.String(16), nullable=False),
    sa.Column("trigger_event", sa.String(16), nullable=False),
    sa.Column("message_structure", sa.String(16), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("charset", sa.String(32), nullable=False),
    sa.Column("patient_key", sa.String(255)),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("flags", JSONType, nullable=False),
    sa.Column("ack", sa.LargeBinary, nullable=False),
    sa.Column("accept_ack_type", sa.String(4), nullable=False),
    sa.Column("app_ack_type", sa.String(4), nullable=False),
    sa.Column("status", enum_column(InboxStatus, 16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("outcome", JSONType),
    sa.Column("processed_at", UtcDateTime),
    sa.UniqueConstraint("source", "sender_app", "sender_facility", "control_id"),
    sa.Index("ix_inbox_message_status_id", "status", "id"),
    sa.Index("ix_inbox_message_patient_key_id", "patient_key", "id"),
)

# History of the pipeline's attempts on a row (the pipeline writes it; the operator API shows it).
inbox_attempt = sa.Table(
    "inbox_attempt", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("inbox_id", BigId, sa.ForeignKey("inbox_message.id"), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("error", sa.Text),
    sa.Index("ix_inbox_attempt_inbox_id_id", "inbox_id", "id"),
)

# --- registry: DPI context per patient (pipeline) --------------------------------------------------------------------

mouvement = sa.Table(
    "mouvement", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sejour_id", sa.ForeignKey("sejour.id"), nullable=False),
    sa.Column("patient_id", sa.ForeignKey("patient.id"), nullable=False, index=True),
    sa.Column("identifiant", sa.String(64), nullable=False),
    sa.Column("evenement", sa.String(8), nullable=False),
    sa.Column("debut", UtcDateTime),
    _str("code_uf", 32), _str("code_uf_soins", 32), _str("nature", 8), _str("classe", 8),
    sa.Column("annule", sa.Boolean, nullable=False, server_default=sa.false()),
    _str("message_id", 64),
    sa.Column("created_at", UtcDateTime), sa.Column("updated_at", UtcDateTime),
    sa.Index("ix_mouvement_sejour", "sejour_id", "identifiant"),
)

patient_contexte = sa.Table(
    "patient_contexte", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("patient_id", sa.ForeignKey("patient.id"), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("donnees", JSONType, nullable=False),
    sa.Column("provenance", JSONType, nullable=False),
    _str("message_id", 64),
    sa.Column("updated_at", UtcDateTime),
    sa.UniqueConstraint("patient_id", "source"),
)

# --- identity vigilance: INS, INSi lookups, RNIV trace ----------------------------------------------------------------

# one row per patient: the INS returned by INSi (kept here until the identity is qualified), the validating document
identite_etat = sa.Table(
    "identite_etat", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("patient_id", sa.ForeignKey("patient.id"), nullable=False, unique=True),
    _str("ins_matricule", 13), _str("ins_cle", 2), _str("ins_oid", 64),
    sa.Column("ins_historique", JSONType, nullable=False),
    sa.Column("traits_insi", JSONType, nullable=False),
    sa.Column("date_interrogation_insi", UtcDateTime),
    sa.Column("piece_identite", enum_column(PieceIdentite, 8)),
    sa.Column("validee_at", UtcDateTime),
    sa.Column("validee_par_id", sa.ForeignKey("utilisateur.id")),
    sa.Column("updated_at", UtcDateTime),
)

identite_trace = sa.Table(
    "identite_trace", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("patient_id", sa.ForeignKey("patient.id"), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("actor_kind", sa.String(32), nullable=False),
    sa.Column("actor_user_id", sa.ForeignKey("utilisateur.id")),
    _str("statut_avant", 32), _str("statut_apres", 32),
    sa.Column("details", JSONType, nullable=False),
    sa.Index("ix_identite_trace_patient_at", "patient_id", "at"),  # a patient's trace, in order
)

insi_recherche = sa.Table(
    "insi_recherche", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("patient_id", sa.ForeignKey("patient.id"), nullable=False, index=True),
    sa.Column("type", enum_column(TypeRecherche, 16), nullable=False),
    _str("motif", 255),
    sa.Column("statut", enum_column(StatutRecherche, 16), nullable=False),
    sa.Column("demandee_at", UtcDateTime, nullable=False),
    sa.Column("prochaine_tentative_at", UtcDateTime),
    sa.Column("tentatives", sa.Integer, nullable=False, server_default="0"),
    sa.Column("terminee_at", UtcDateTime),
    _str("code_cr", 2), _str("erreur", 255),
    sa.Column("demandee_par_id", sa.ForeignKey("utilisateur.id")),
    sa.Index("ix_insi_recherche_due", "statut", "prochaine_tentative_at"),  # the ins.lookup task's queue
)

identite_conflit = sa.Table(
    "identite_conflit", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("patient_id", sa.ForeignKey("patient.id"), nullable=False, index=True),
    sa.Column("recherche_id", sa.ForeignKey("insi_recherche.id")),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("motif", sa.String(255), nullable=False),
    sa.Column("ins_actuel", JSONType, nullable=False),
    sa.Column("ins_recu", JSONType, nullable=False),
    sa.Column("traits_recus", JSONType, nullable=False),
    sa.Column("statut", enum_column(StatutConflit, 16), nullable=False),
    sa.Column("resolu_at", UtcDateTime),
    sa.Column("resolu_par_id", sa.ForeignKey("utilisateur.id")),
    sa.Index("ix_identite_conflit_statut_at", "statut", "at"),  # the conflicts work list
)


# --- FHIR resources: versions, conditional create, subscriptions ----------------------------------------------------

# Every version of every resource posted to /fhir/r4 (vread, _history); ``current`` marks the latest one (read,
# search). Unique (type, id, version): two concurrent updates of one resource cannot both win.
# ix_fhir_resource_current: read by id; ix_fhir_resource_type_updated: _lastUpdated search and polling.
fhir_resource = sa.Table(
    "fhir_resource", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resource_type", sa.String(64), nullable=False),
    sa.Column("resource_id", sa.String(64), nullable=False),
    sa.Column("version_id", sa.Integer, nullable=False),
    sa.Column("last_updated", UtcDateTime, nullable=False),
    sa.Column("current", sa.Boolean, nullable=False),
    sa.Column("content", JSONType, nullable=False),
    sa.UniqueConstraint("resource_type", "resource_id", "version_id"),
    sa.Index("ix_fhir_resource_current", "resource_type", "resource_id", "current"),
    sa.Index("ix_fhir_resource_type_updated", "resource_type", "current", "last_updated"),
)

# Identifiers of the current versions (search ``identifier=system|value``, If-None-Exist). ``unique_key`` is set
# for the types whose identifier names one real-world thing (Patient, Practitioner): its unique constraint makes
# conditional create idempotent under concurrent requests (the loser's INSERT fails, it retries and finds the
# winner). Other types (Encounter NDA re-sent in a new Bundle…) keep it NULL, which never conflicts.
fhir_identifier = sa.Table(
    "fhir_identifier", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resource_type", sa.String(64), nullable=False),
    sa.Column("resource_id", sa.String(64), nullable=False),
    sa.Column("system", sa.String(255), nullable=False),
    sa.Column("value", sa.String(255), nullable=False),
    sa.Column("unique_key", sa.String(600), unique=True),
    sa.Index("ix_fhir_identifier_lookup", "resource_type", "system", "value"),
    sa.Index("ix_fhir_identifier_resource", "resource_type", "resource_id"),
)

# Other search parameters of the current versions (family, given, birthdate, gender, patient…), one row per
# value, normalised by the FHIR edge (strings upper-cased without accents: FHIR string search is a prefix match).
fhir_search = sa.Table(
    "fhir_search", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resource_type", sa.String(64), nullable=False),
    sa.Column("resource_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(32), nullable=False),
    sa.Column("value", sa.String(255), nullable=False),
    sa.Index("ix_fhir_search_lookup", "resource_type", "name", "value"),
    sa.Index("ix_fhir_search_resource", "resource_type", "resource_id"),
)

# REST-hook Subscriptions on Task changes: who subscribed (his rights filter the Tasks), where to deliver, and the
# delivery state. ``cursor``: lastUpdated of the newest Task delivered; ``next_attempt_at``: retry with backoff.
fhir_subscription = sa.Table(
    "fhir_subscription", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resource_id", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.ForeignKey("utilisateur.id"), nullable=False),
    sa.Column("criteria", sa.Text, nullable=False),
    sa.Column("endpoint", sa.String(1000), nullable=False),
    sa.Column("headers", JSONType, nullable=False),
    sa.Column("payload", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("cursor", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_fhir_subscription_status_next", "status", "next_attempt_at"),
)

# --- prefill: provenance of dossier values ---------------------------------------------------------------------------
# Dossier.provenance: volet → field → source, DPI value, edited / differs flags (migration 0007). A JSON column on
# dossier rather than a table: it is read and written with the volets, always whole.
dossier.append_column(sa.Column("provenance", JSONType, nullable=False, server_default=sa.text("'{}'")))


# --- auth: sessions, DPI clients, launches ---------------------------------------------------------------------------
# Server-side sessions (gateway/auth/sessions.py, migration 0008): the cookie carries a random token, the row its
# SHA-256. ix_session_user_id: sign-out of every session of a user (deactivation, password change).
session = sa.Table(
    "session", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.ForeignKey("utilisateur.id"), nullable=False, index=True),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("account_complete", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_seen_at", UtcDateTime, nullable=False),
    sa.Column("closed_at", UtcDateTime),
    _str("ip", 64), _str("user_agent", 255),
)

# DPI clients registered by an administrator (gateway/auth/clients.py): keys (inline JWKS or a JWKS URL), the
# établissements it may act for, the modules it may open, whether its asserted user is signed in directly.
dpi_client = sa.Table(
    "dpi_client", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=False, unique=True),
    sa.Column("nom", sa.String(255), nullable=False),
    sa.Column("etablissement_ids", JSONType, nullable=False),
    sa.Column("modules", JSONType, nullable=False),
    sa.Column("trust", sa.String(32), nullable=False),
    sa.Column("jwks", JSONType),
    _str("jwks_url", 1000),
    sa.Column("actif", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# Consumed token ids: a launch JWT's or a client assertion's ``jti`` is accepted once. The unique constraint is the
# single-use guarantee under concurrent requests (the second INSERT fails). ix_launch_jti_expires_at: purge.
launch_jti = sa.Table(
    "launch_jti", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("jti", sa.String(255), nullable=False),
    sa.Column("used_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
    sa.UniqueConstraint("client_id", "purpose", "jti"),
)

# One-time launch URLs answered by POST /api/v1/launches (valid 2 minutes, opened once): the token's SHA-256.
launch_ticket = sa.Table(
    "launch_ticket", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("claims", JSONType, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
)


# --- auth: accounts, one-time codes ----------------------------------------------------------------------------------
# Sign-in state of a user (orientation_core/people/accounts.py, migration 0009): argon2 password hash, charter
# acceptance, consecutive failures and lockout. One row per user, created by the first card sign-in.
compte = sa.Table(
    "compte", metadata,
    sa.Column("user_id", sa.ForeignKey("utilisateur.id"), primary_key=True, autoincrement=False),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("charte_acceptee_at", UtcDateTime), _str("charte_version", 16),
    sa.Column("echecs", sa.Integer, nullable=False, server_default="0"),
    sa.Column("verrouille_jusqu_a", UtcDateTime),
    sa.Column("derniere_connexion_at", UtcDateTime), _str("derniere_methode", 32),
    sa.Column("created_at", UtcDateTime),
)

# One-time codes e-mailed after a correct password (argon2 hash of the 6 digits). ix_code_connexion_user_created:
# the user's latest code, and the codes sent in the last hour (rate limit).
code_connexion = sa.Table(
    "code_connexion", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("utilisateur.id"), nullable=False),
    sa.Column("code_hash", sa.String(255), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("essais", sa.Integer, nullable=False, server_default="0"),
    sa.Column("used_at", UtcDateTime), sa.Column("invalidated_at", UtcDateTime),
    sa.Index("ix_code_connexion_user_created", "user_id", "created_at"),
)

# Sign-in attempts: failures per address within a window (ix_tentative_connexion_ip_at).
tentative_connexion = sa.Table(
    "tentative_connexion", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("etape", sa.String(16), nullable=False),
    sa.Column("succes", sa.Boolean, nullable=False),
    sa.Column("user_id", sa.ForeignKey("utilisateur.id")),
    sa.Index("ix_tentative_connexion_ip_at", "ip", "at"),
)

# History of an account (Mon compte): data changes, charter, habilitations, délégations, locks.
evenement_compte = sa.Table(
    "evenement_compte", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("utilisateur.id"), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("actor_user_id", sa.ForeignKey("utilisateur.id")),
    sa.Column("avant", JSONType, nullable=False),
    sa.Column("apres", JSONType, nullable=False),
    sa.Index("ix_evenement_compte_user_at", "user_id", "at"),
)

# E-mailed invitation of an assistant délégation: the link's token SHA-256; completed by the assistant signed in.
invitation_delegation = sa.Table(
    "invitation_delegation", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("delegation_id", sa.ForeignKey("delegation.id"), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
)

# Médecin libéral space: the national id (8 + RPPS / 0 + ADELI) of the dossier's médecin traitant, kept in step with
# the volets on every flush (persistence/accounts.py), and his answer. ix_dossier_medecin_traitant: his lists.
dossier.append_column(sa.Column("medecin_traitant_idnps", sa.String(12)))
sa.Index("ix_dossier_medecin_traitant", dossier.c.medecin_traitant_idnps, dossier.c.module)
medecin_traitant_reponse = sa.Table(
    "medecin_traitant_reponse", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dossier_id", sa.ForeignKey("dossier.id"), nullable=False),
    sa.Column("user_id", sa.ForeignKey("utilisateur.id"), nullable=False),
    sa.Column("statut", sa.String(16), nullable=False),  # "acceptee" | "refusee" ("pas mon patient")
    sa.Column("at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("dossier_id", "user_id"),
)
