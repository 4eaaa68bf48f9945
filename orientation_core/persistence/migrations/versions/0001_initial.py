"""initial schema: directory, people, patients, dossiers, demandes, history

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orientation_core.persistence.types

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('etablissement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finess', sa.String(length=9), nullable=False),
    sa.Column('nom', sa.String(length=255), nullable=False),
    sa.Column('secteur', sa.Enum('sanitaire', 'grand_age', name='secteur', native_enum=False, length=32), nullable=False),
    sa.Column('adresse', sa.String(length=255), server_default='', nullable=False),
    sa.Column('code_postal', sa.String(length=5), nullable=True),
    sa.Column('ville', sa.String(length=120), server_default='', nullable=False),
    sa.Column('telephone', sa.String(length=30), server_default='', nullable=False),
    sa.Column('created_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_etablissement')),
    sa.UniqueConstraint('finess', name=op.f('uq_etablissement_finess'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('dispatched_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending', ['dispatched_at', 'id'], unique=False)

    op.create_table('patient',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nom_naissance', sa.String(length=120), nullable=False),
    sa.Column('prenoms', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('date_naissance', sa.Date(), nullable=False),
    sa.Column('sexe', sa.Enum('F', 'M', 'U', name='sexe', native_enum=False), nullable=False),
    sa.Column('nom_utilise', sa.String(length=120), server_default='', nullable=False),
    sa.Column('prenom_utilise', sa.String(length=120), server_default='', nullable=False),
    sa.Column('lieu_naissance_code', sa.String(length=5), server_default='', nullable=False),
    sa.Column('statut_identite', sa.Enum('provisoire', 'recuperee', 'validee', 'qualifiee', name='statutidentite', native_enum=False, length=32), nullable=False),
    sa.Column('attributs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('adresse', sa.String(length=255), server_default='', nullable=False),
    sa.Column('code_postal', sa.String(length=10), server_default='', nullable=False),
    sa.Column('ville', sa.String(length=120), server_default='', nullable=False),
    sa.Column('telephone', sa.String(length=30), server_default='', nullable=False),
    sa.Column('nom_recherche', sa.String(length=255), server_default='', nullable=False),
    sa.Column('nom_naissance_recherche', sa.String(length=255), server_default='', nullable=False),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('created_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['merged_into_id'], ['patient.id'], name=op.f('fk_patient_merged_into_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient'))
    )
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_date_naissance'), ['date_naissance'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_nom_naissance_recherche'), ['nom_naissance_recherche'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_nom_recherche'), ['nom_recherche'], unique=False)

    op.create_table('utilisateur',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('identifiant_national', sa.String(length=12), nullable=True),
    sa.Column('identifiant_local', sa.String(length=64), nullable=True),
    sa.Column('type_identifiant', sa.Enum('rpps', 'adeli', 'local', name='typeidentifiant', native_enum=False, length=32), nullable=False),
    sa.Column('nom', sa.String(length=120), nullable=False),
    sa.Column('prenom', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('profession', sa.String(length=64), server_default='', nullable=False),
    sa.Column('specialite', sa.String(length=120), server_default='', nullable=False),
    sa.Column('telephone', sa.String(length=30), server_default='', nullable=False),
    sa.Column('code_postal', sa.String(length=5), nullable=True),
    sa.Column('ville', sa.String(length=120), server_default='', nullable=False),
    sa.Column('forme_ins', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('alertes_email', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('actif', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('administrateur', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_utilisateur')),
    sa.UniqueConstraint('identifiant_local', name=op.f('uq_utilisateur_identifiant_local')),
    sa.UniqueConstraint('identifiant_national', name=op.f('uq_utilisateur_identifiant_national'))
    )
    op.create_table('delegation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delegant_id', sa.Integer(), nullable=False),
    sa.Column('delegataire_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.Enum('assistant', 'confrere', name='typedelegation', native_enum=False, length=32), nullable=False),
    sa.Column('debut', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('fin', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('droits', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('accepted_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['delegant_id'], ['utilisateur.id'], name=op.f('fk_delegation_delegant_id_utilisateur')),
    sa.ForeignKeyConstraint(['delegataire_id'], ['utilisateur.id'], name=op.f('fk_delegation_delegataire_id_utilisateur')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delegation'))
    )
    with op.batch_alter_table('delegation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delegation_delegant_id'), ['delegant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_delegation_delegataire_id'), ['delegataire_id'], unique=False)

    op.create_table('patient_identifiant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.Enum('ipp', 'ins_nir', 'ins_nia', 'ins_nir_test', 'ins_nir_demo', name='typeidentifiantpatient', native_enum=False, length=32), nullable=False),
    sa.Column('valeur', sa.String(length=64), nullable=False),
    sa.Column('autorite', sa.String(length=64), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_patient_identifiant_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_identifiant')),
    sa.UniqueConstraint('type', 'valeur', 'autorite', name=op.f('uq_patient_identifiant_type'))
    )
    with op.batch_alter_table('patient_identifiant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_identifiant_patient_id'), ['patient_id'], unique=False)

    op.create_table('unite',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('etablissement_id', sa.Integer(), nullable=False),
    sa.Column('code_uf', sa.String(length=32), nullable=False),
    sa.Column('nom', sa.String(length=255), nullable=False),
    sa.Column('type', sa.Enum('mco', 'smr', 'had', 'usp', 'ssiad', 'ehpad', 'usld', 'residence_autonomie', 'accueil_de_jour', 'accueil_temporaire', name='typeunite', native_enum=False, length=32), nullable=False),
    sa.Column('mention', sa.String(length=64), nullable=True),
    sa.Column('capacite', sa.Integer(), nullable=True),
    sa.Column('pathologies', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('besoins_acceptes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('equipements', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('code_postal', sa.String(length=5), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('ror_id', sa.String(length=64), nullable=True),
    sa.Column('actif', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.ForeignKeyConstraint(['etablissement_id'], ['etablissement.id'], name=op.f('fk_unite_etablissement_id_etablissement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unite')),
    sa.UniqueConstraint('etablissement_id', 'code_uf', name=op.f('uq_unite_etablissement_id')),
    sa.UniqueConstraint('ror_id', name=op.f('uq_unite_ror_id'))
    )
    with op.batch_alter_table('unite', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unite_type'), ['type'], unique=False)

    op.create_table('habilitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('prescripteur', 'prescripteur_medical', 'receveur', 'receveur_medical', 'medecin_coordonnateur', 'referent', name='role', native_enum=False, length=32), nullable=False),
    sa.Column('etablissement_id', sa.Integer(), nullable=False),
    sa.Column('unite_id', sa.Integer(), nullable=True),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['etablissement_id'], ['etablissement.id'], name=op.f('fk_habilitation_etablissement_id_etablissement')),
    sa.ForeignKeyConstraint(['granted_by_id'], ['utilisateur.id'], name=op.f('fk_habilitation_granted_by_id_utilisateur')),
    sa.ForeignKeyConstraint(['unite_id'], ['unite.id'], name=op.f('fk_habilitation_unite_id_unite')),
    sa.ForeignKeyConstraint(['user_id'], ['utilisateur.id'], name=op.f('fk_habilitation_user_id_utilisateur')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_habilitation'))
    )
    with op.batch_alter_table('habilitation', schema=None) as batch_op:
        batch_op.create_index('ix_habilitation_etablissement_role', ['etablissement_id', 'role'], unique=False)
        batch_op.create_index('ix_habilitation_unite_role', ['unite_id', 'role'], unique=False)
        batch_op.create_index(batch_op.f('ix_habilitation_user_id'), ['user_id'], unique=False)

    op.create_table('sejour',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('etablissement_id', sa.Integer(), nullable=False),
    sa.Column('nda', sa.String(length=64), nullable=False),
    sa.Column('date_entree', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('date_sortie', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('statut', sa.Enum('preadmission', 'en_cours', 'sorti', 'annule', name='statutsejour', native_enum=False, length=32), nullable=False),
    sa.Column('unite_id', sa.Integer(), nullable=True),
    sa.Column('code_uf', sa.String(length=32), server_default='', nullable=False),
    sa.Column('classe', sa.String(length=8), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['etablissement_id'], ['etablissement.id'], name=op.f('fk_sejour_etablissement_id_etablissement')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_sejour_patient_id_patient')),
    sa.ForeignKeyConstraint(['unite_id'], ['unite.id'], name=op.f('fk_sejour_unite_id_unite')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sejour')),
    sa.UniqueConstraint('etablissement_id', 'nda', name=op.f('uq_sejour_etablissement_id'))
    )
    with op.batch_alter_table('sejour', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sejour_patient_id'), ['patient_id'], unique=False)

    op.create_table('dossier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('numero', sa.String(length=16), server_default='', nullable=False),
    sa.Column('module', sa.Enum('sanitaire', 'grand_age', name='module', native_enum=False, length=32), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('etablissement_id', sa.Integer(), nullable=True),
    sa.Column('unite_id', sa.Integer(), nullable=True),
    sa.Column('owner_user_id', sa.Integer(), nullable=True),
    sa.Column('sejour_id', sa.Integer(), nullable=True),
    sa.Column('etat', sa.Enum('brouillon', 'envoye', 'admis', 'annule', 'archive', name='etatdossier', native_enum=False, length=32), nullable=False),
    sa.Column('volets', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('type_orientation', sa.String(length=32), server_default='', nullable=False),
    sa.Column('anticipee', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('retour_domicile_date', sa.Date(), nullable=True),
    sa.Column('bloc_note', sa.Text(), server_default='', nullable=False),
    sa.Column('nb_pieces_jointes', sa.Integer(), server_default='0', nullable=False),
    sa.Column('dossier_lie_id', sa.Integer(), nullable=True),
    sa.Column('relance_auto_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('annule_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('motif_annulation', sa.String(length=500), server_default='', nullable=False),
    sa.Column('derniere_action_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('derniere_action_prescripteur_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('patient_nom_recherche', sa.String(length=255), server_default='', nullable=False),
    sa.Column('patient_nom_naissance_recherche', sa.String(length=255), server_default='', nullable=False),
    sa.Column('patient_nom_affiche', sa.String(length=255), server_default='', nullable=False),
    sa.Column('created_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['utilisateur.id'], name=op.f('fk_dossier_created_by_id_utilisateur')),
    sa.ForeignKeyConstraint(['dossier_lie_id'], ['dossier.id'], name=op.f('fk_dossier_dossier_lie_id_dossier')),
    sa.ForeignKeyConstraint(['etablissement_id'], ['etablissement.id'], name=op.f('fk_dossier_etablissement_id_etablissement')),
    sa.ForeignKeyConstraint(['owner_user_id'], ['utilisateur.id'], name=op.f('fk_dossier_owner_user_id_utilisateur')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_dossier_patient_id_patient')),
    sa.ForeignKeyConstraint(['sejour_id'], ['sejour.id'], name=op.f('fk_dossier_sejour_id_sejour')),
    sa.ForeignKeyConstraint(['unite_id'], ['unite.id'], name=op.f('fk_dossier_unite_id_unite')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier'))
    )
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.create_index('ix_dossier_etat_action', ['etat', 'derniere_action_at'], unique=False)
        batch_op.create_index('ix_dossier_etat_annule', ['etat', 'annule_at'], unique=False)
        batch_op.create_index('ix_dossier_nom', ['patient_nom_recherche'], unique=False, postgresql_ops={'patient_nom_recherche': 'varchar_pattern_ops'})
        batch_op.create_index('ix_dossier_nom_naissance', ['patient_nom_naissance_recherche'], unique=False, postgresql_ops={'patient_nom_naissance_recherche': 'varchar_pattern_ops'})
        batch_op.create_index('ix_dossier_numero', ['numero'], unique=False)
        batch_op.create_index('ix_dossier_owner_etat_action', ['owner_user_id', 'etat', 'derniere_action_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dossier_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_dossier_relance_auto', ['relance_auto_at'], unique=False)
        batch_op.create_index('ix_dossier_unite_etat_action', ['unite_id', 'etat', 'derniere_action_at'], unique=False)

    op.create_table('demande',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=False),
    sa.Column('unite_id', sa.Integer(), nullable=False),
    sa.Column('statut', sa.Enum('en_cours_de_redaction', 'en_attente_de_reponse', 'demande_de_precision', 'accord_de_principe', 'acceptee', 'refusee', 'confirmee', 'admission_finalisee', 'annulee', 'archivee', name='status', native_enum=False, length=32), nullable=False),
    sa.Column('statut_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('envoyee_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('motif', sa.Text(), server_default='', nullable=False),
    sa.Column('question', sa.Text(), server_default='', nullable=False),
    sa.Column('reponse_precision', sa.Text(), server_default='', nullable=False),
    sa.Column('date_debut', sa.Date(), nullable=True),
    sa.Column('date_fin', sa.Date(), nullable=True),
    sa.Column('date_admission', sa.Date(), nullable=True),
    sa.Column('a_renvoyer', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('relance_receveur_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('relance_prescripteur_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('annulee_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_demande_dossier_id_dossier')),
    sa.ForeignKeyConstraint(['unite_id'], ['unite.id'], name=op.f('fk_demande_unite_id_unite')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demande'))
    )
    with op.batch_alter_table('demande', schema=None) as batch_op:
        batch_op.create_index('ix_demande_dossier_statut', ['dossier_id', 'statut'], unique=False)
        batch_op.create_index('ix_demande_statut_annulee', ['statut', 'annulee_at'], unique=False)
        batch_op.create_index('ix_demande_statut_relance', ['statut', 'relance_prescripteur_at'], unique=False)
        batch_op.create_index('ix_demande_unite_statut_at', ['unite_id', 'statut_at'], unique=False)

    op.create_table('piece_jointe',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=False),
    sa.Column('nom', sa.String(length=255), nullable=False),
    sa.Column('type_mime', sa.String(length=100), nullable=False),
    sa.Column('taille', sa.Integer(), nullable=False),
    sa.Column('categorie', sa.String(length=64), server_default='', nullable=False),
    sa.Column('storage_key', sa.String(length=255), server_default='', nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=False),
    sa.Column('added_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['utilisateur.id'], name=op.f('fk_piece_jointe_added_by_id_utilisateur')),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_piece_jointe_dossier_id_dossier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_piece_jointe'))
    )
    with op.batch_alter_table('piece_jointe', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_piece_jointe_dossier_id'), ['dossier_id'], unique=False)

    op.create_table('history_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=False),
    sa.Column('demande_id', sa.Integer(), nullable=True),
    sa.Column('at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('actor_kind', sa.String(length=32), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('avant', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('apres', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['utilisateur.id'], name=op.f('fk_history_event_actor_user_id_utilisateur')),
    sa.ForeignKeyConstraint(['demande_id'], ['demande.id'], name=op.f('fk_history_event_demande_id_demande')),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_history_event_dossier_id_dossier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_history_event'))
    )
    with op.batch_alter_table('history_event', schema=None) as batch_op:
        batch_op.create_index('ix_history_event_dossier_at', ['dossier_id', 'at'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('titre', sa.String(length=255), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=True),
    sa.Column('demande_id', sa.Integer(), nullable=True),
    sa.Column('created_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('lu_at', orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['demande_id'], ['demande.id'], name=op.f('fk_notification_demande_id_demande')),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_notification_dossier_id_dossier')),
    sa.ForeignKeyConstraint(['user_id'], ['utilisateur.id'], name=op.f('fk_notification_user_id_utilisateur')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_user_created', ['user_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_user_created')

    op.drop_table('notification')
    with op.batch_alter_table('history_event', schema=None) as batch_op:
        batch_op.drop_index('ix_history_event_dossier_at')

    op.drop_table('history_event')
    with op.batch_alter_table('piece_jointe', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_piece_jointe_dossier_id'))

    op.drop_table('piece_jointe')
    with op.batch_alter_table('demande', schema=None) as batch_op:
        batch_op.drop_index('ix_demande_unite_statut_at')
        batch_op.drop_index('ix_demande_statut_relance')
        batch_op.drop_index('ix_demande_statut_annulee')
        batch_op.drop_index('ix_demande_dossier_statut')

    op.drop_table('demande')
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_index('ix_dossier_unite_etat_action')
        batch_op.drop_index('ix_dossier_relance_auto')
        batch_op.drop_index(batch_op.f('ix_dossier_patient_id'))
        batch_op.drop_index('ix_dossier_owner_etat_action')
        batch_op.drop_index('ix_dossier_numero')
        batch_op.drop_index('ix_dossier_nom_naissance', postgresql_ops={'patient_nom_naissance_recherche': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_dossier_nom', postgresql_ops={'patient_nom_recherche': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_dossier_etat_annule')
        batch_op.drop_index('ix_dossier_etat_action')

    op.drop_table('dossier')
    with op.batch_alter_table('sejour', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sejour_patient_id'))

    op.drop_table('sejour')
    with op.batch_alter_table('habilitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_habilitation_user_id'))
        batch_op.drop_index('ix_habilitation_unite_role')
        batch_op.drop_index('ix_habilitation_etablissement_role')

    op.drop_table('habilitation')
    with op.batch_alter_table('unite', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unite_type'))

    op.drop_table('unite')
    with op.batch_alter_table('patient_identifiant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_identifiant_patient_id'))

    op.drop_table('patient_identifiant')
    with op.batch_alter_table('delegation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delegation_delegataire_id'))
        batch_op.drop_index(batch_op.f('ix_delegation_delegant_id'))

    op.drop_table('delegation')
    op.drop_table('utilisateur')
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_nom_recherche'))
        batch_op.drop_index(batch_op.f('ix_patient_nom_naissance_recherche'))
        batch_op.drop_index(batch_op.f('ix_patient_date_naissance'))

    op.drop_table('patient')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')

    op.drop_table('outbox')
    op.drop_table('etablissement')
