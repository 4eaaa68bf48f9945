"""Prescripteur dashboard: sections, filters, search, pagination, icons, Excel export, live refresh.

``GET /tableau-de-bord`` the page (six sections as tabs, status checkboxes, search, unit and module filters);
``GET /tableau-de-bord/lignes`` the table's rows alone, same filters (the page's ``data-refresh`` polls it, so a
status changed by a receiving unit appears without reloading); ``GET /tableau-de-bord/export.xlsx`` every page of
the current filters as an Excel workbook (capped at ``EXPORT_MAX`` rows, the INS only through
``ins.exposure.ins_for_export``).

A user without a prescripteur habilitation is sent to the receiving units' dashboard when he is a receveur, to the
médecin libéral space when he is a doctor without habilitation (or a delegate), and gets the French 403 page
otherwise; the fragment and the export refuse him outright.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from gateway.api.deps import UserId
from gateway.ui import render
from gateway.ui.pages import PARIS, PRESCRIPTEUR_ROLES, RECEVEUR_ROLES, container, see_other, show
from ins.exposure import ins_for_export
from orientation_core.dashboard import DossierRow, Page
from orientation_core.demande.workflow import STATUS_LABELS, Status
from orientation_core.directory.model import Unite
from orientation_core.dossier import service as dossiers
from orientation_core.dossier.model import SECTION_LABELS, Section
from orientation_core.dossier.volets import Module
from orientation_core.errors import Forbidden
from orientation_core.identite.rniv import STATUT_LABELS
from orientation_core.patients.model import StatutIdentite
from orientation_core.people.policy import ROLE_ACTIONS, Action
from orientation_core.people.service import subject_for
from orientation_core.ports import Env, UnitOfWork

router = APIRouter(include_in_schema=False)

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
REFRESH_SECONDS = 20
EXPORT_MAX = 10_000
EXPORT_BATCH = 200  # rows per dashboard query while exporting (the service's page-size cap)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

MODULE_LABELS: dict[Module, str] = {Module.SANITAIRE: "Sanitaire", Module.GRAND_AGE: "Grand Âge"}
STATUS_BADGES: dict[Status, str] = {
    Status.EN_REDACTION: "gris", Status.EN_ATTENTE: "bleu", Status.DEMANDE_PRECISION: "orange",
    Status.ACCORD_DE_PRINCIPE: "orange", Status.ACCEPTEE: "vert", Status.REFUSEE: "rouge",
    Status.CONFIRMEE: "vert", Status.ADMISSION_FINALISEE: "vert", Status.ANNULEE: "gris", Status.ARCHIVEE: "gris",
}
IDENTITY_BADGES: dict[StatutIdentite, str] = {
    StatutIdentite.PROVISOIRE: "gris", StatutIdentite.RECUPEREE: "bleu", StatutIdentite.VALIDEE: "bleu",
    StatutIdentite.QUALIFIEE: "vert",
}
EMPTY = {
    Section.EN_COURS: "Aucun dossier dans cette section.",
    Section.ANTICIPEES: "Aucune demande anticipée dans cette section.",
    Section.RETOUR_DOMICILE: "Aucun patient rentré à domicile avant son admission.",
    Section.PATIENTS_SORTIS: "Aucun patient sorti dans cette section.",
    Section.ARCHIVEES: "Aucun dossier archivé.",
    Section.ANNULEES: "Aucun dossier annulé.",
}


DEFAULTS: dict[str, object] = {"section": Section.EN_COURS, "page": 1, "par_page": DEFAULT_PAGE_SIZE}


# --- the filters, as the query string carries them ------------------------------------------------------------------


@dataclass(frozen=True)
class Filtres:
    """What the user chose; parsed leniently (a hand-edited address falls back to the defaults, never a 422)."""

    section: Section = Section.EN_COURS
    statuts: tuple[Status, ...] = ()
    recherche: str = ""
    unite_id: int | None = None
    module: Module | None = None
    page: int = 1
    par_page: int = DEFAULT_PAGE_SIZE

    @classmethod
    def parse(cls, section: str, statut: list[str], recherche: str, unite_id: str, module: str, page: str,
              par_page: str) -> Filtres:
        statuts = tuple(s for s in Status if s.value in set(statut))
        return cls(
            section=Section(section) if section in Section._value2member_map_ else Section.EN_COURS,
            statuts=statuts, recherche=recherche.strip()[:100],
            unite_id=int(unite_id) if unite_id.strip().isdigit() else None,
            module=Module(module) if module in Module._value2member_map_ else None,
            page=max(int(page), 1) if page.strip().isdigit() else 1,
            par_page=int(par_page) if par_page.strip().isdigit() and int(par_page) in PAGE_SIZES
            else DEFAULT_PAGE_SIZE)

    def params(self, **changes: object) -> list[tuple[str, str]]:
        """The query string's pairs (defaults left out), with ``changes`` applied."""
        values: dict[str, object] = {"section": self.section, "statut": self.statuts, "recherche": self.recherche,
                                     "unite_id": self.unite_id, "module": self.module, "page": self.page,
                                     "par_page": self.par_page} | changes
        pairs: list[tuple[str, str]] = []
        for key, value in values.items():
            if value is None or value == "" or value == DEFAULTS.get(key):
                continue
            if isinstance(value, tuple):
                pairs.extend((key, str(getattr(v, "value", v))) for v in value)
            else:
                pairs.append((key, str(getattr(value, "value", value))))
        return pairs

    def url(self, path: str = "/tableau-de-bord", **changes: object) -> str:
        query = urlencode(self.params(**changes))
        return f"{path}?{query}" if query else path


# --- what one table row shows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemandeVue:
    unite_nom: str
    statut: str
    badge: str
    relance_possible: bool


@dataclass(frozen=True)
class Ligne:
    dossier_id: int
    numero: str
    patient_nom: str
    identite: str
    identite_badge: str
    module: str
    unite_nom: str
    derniere_action_at: dt.datetime | None
    nb_pieces_jointes: int
    bloc_note: str
    dossier_lie_id: int | None
    dossier_lie_libelle: str
    relance_possible: bool
    relance_auto_at: dt.datetime | None
    annulation_auto_at: dt.datetime | None
    demandes: list[DemandeVue] = field(default_factory=list)


def _ligne(row: DossierRow, unites: dict[int, Unite], env: Env) -> Ligne:
    statut_identite = StatutIdentite(row.patient_statut_identite)
    unite = unites.get(row.unite_id) if row.unite_id is not None else None
    return Ligne(
        dossier_id=row.dossier_id, numero=row.numero, patient_nom=row.patient_nom,
        identite=STATUT_LABELS[statut_identite], identite_badge=IDENTITY_BADGES[statut_identite],
        module=MODULE_LABELS[row.module], unite_nom=unite.nom if unite else "Médecin libéral",
        derniere_action_at=row.derniere_action_at, nb_pieces_jointes=row.nb_pieces_jointes,
        bloc_note=row.bloc_note.strip(), dossier_lie_id=row.dossier_lie_id,
        dossier_lie_libelle="Dossier Grand Âge lié" if row.module is Module.SANITAIRE else "Dossier sanitaire lié",
        relance_possible=any(d.relance_possible for d in row.demandes),
        relance_auto_at=row.relance_auto_at,
        annulation_auto_at=row.relance_auto_at + env.timers.annulation_auto if row.relance_auto_at else None,
        demandes=[DemandeVue(d.unite_nom, STATUS_LABELS[d.statut], STATUS_BADGES[d.statut], d.relance_possible)
                  for d in row.demandes])


@dataclass(frozen=True)
class Acces:
    """Who is asking, read once per request: may he use this dashboard, and on which units."""

    prescripteur: bool
    receveur: bool
    liberal: bool  # a doctor without hospital habilitation, or holding délégations: the médecin libéral space
    unites: dict[int, Unite]  # the units whose dossiers he may read (the unit filter's choices), by name

    def exiger(self) -> None:
        if not self.prescripteur:
            raise Forbidden("Le tableau de bord des dossiers est réservé aux prescripteurs.",
                            details={"action": "tableau_de_bord.prescripteur"})


def _acces(uow: UnitOfWork, user_id: int) -> Acces:
    subject = subject_for(uow, user_id)
    roles = {h.role for h in subject.habilitations}
    ids = sorted(u for u in subject.unites()
                 if any(Action.DOSSIER_LIRE in ROLE_ACTIONS[r] for r in subject.roles_on_unit(u)))
    prescripteur = bool(roles & set(PRESCRIPTEUR_ROLES))
    found = uow.directory.unites(ids) if prescripteur else {}
    return Acces(prescripteur=prescripteur, receveur=bool(roles & set(RECEVEUR_ROLES)),
                 liberal=subject.est_medecin or bool(subject.delegations),
                 unites=dict(sorted(found.items(), key=lambda item: item[1].nom)))


def _rows(uow: UnitOfWork, env: Env, user_id: int, f: Filtres, *, page: int | None = None,
          page_size: int | None = None) -> Page[DossierRow]:
    return dossiers.dashboard(uow, env, user_id, section=f.section, statuts=frozenset(f.statuts),
                              recherche=f.recherche, unite_id=f.unite_id, module=f.module,
                              page=page or f.page, page_size=page_size or f.par_page)


def _lignes(uow: UnitOfWork, env: Env, rows: list[DossierRow], unites: dict[int, Unite]) -> list[Ligne]:
    missing = {r.unite_id for r in rows if r.unite_id is not None and r.unite_id not in unites}
    if missing:  # a délégant's dossier held by a unit outside the user's own
        unites = unites | uow.directory.unites(sorted(missing))
    return [_ligne(r, unites, env) for r in rows]


Statuts = Annotated[list[str] | None, Query()]


# --- routes ---------------------------------------------------------------------------------------------------------


@router.get("/tableau-de-bord", summary="Tableau de bord du prescripteur", response_class=HTMLResponse)
def dashboard_page(request: Request, user_id: UserId, section: str = "", statut: Statuts = None,
                   recherche: str = "", unite_id: str = "", module: str = "", page: str = "1",
                   par_page: str = "") -> Response:
    c = container(request)
    f = Filtres.parse(section, statut or [], recherche, unite_id, module, page, par_page)
    with c.uow() as uow:
        acces = _acces(uow, user_id)
        if not acces.prescripteur and acces.receveur:
            return see_other("/receveur")
        if not acces.prescripteur and acces.liberal:
            return see_other("/liberal")
        acces.exiger()
        unites = acces.unites
        result = _rows(uow, c.env, user_id, f)
        lignes = _lignes(uow, c.env, result.items, unites)
        return show(request, user_id, "dashboard/tableau.html", {
            "f": f, "lignes": lignes, "result": result, "unites": unites, "sections": SECTION_LABELS,
            "statuts": STATUS_LABELS, "modules": MODULE_LABELS, "page_sizes": PAGE_SIZES,
            "vide": EMPTY[f.section], "refresh_seconds": REFRESH_SECONDS}, uow=uow)


@router.get("/tableau-de-bord/lignes", summary="Lignes du tableau de bord (rafraîchissement)",
            response_class=HTMLResponse)
def dashboard_rows(request: Request, user_id: UserId, section: str = "", statut: Statuts = None,
                   recherche: str = "", unite_id: str = "", module: str = "", page: str = "1",
                   par_page: str = "") -> Response:
    c = container(request)
    f = Filtres.parse(section, statut or [], recherche, unite_id, module, page, par_page)
    with c.uow() as uow:
        acces = _acces(uow, user_id)
        acces.exiger()
        result = _rows(uow, c.env, user_id, f)
        lignes = _lignes(uow, c.env, result.items, acces.unites)
    return render(request, "dashboard/_lignes.html", {"lignes": lignes, "vide": EMPTY[f.section]})


@router.get("/tableau-de-bord/export.xlsx", summary="Export Excel de la vue courante du tableau de bord")
def dashboard_export(request: Request, user_id: UserId, section: str = "", statut: Statuts = None,
                     recherche: str = "", unite_id: str = "", module: str = "") -> Response:
    c = container(request)
    f = Filtres.parse(section, statut or [], recherche, unite_id, module, "1", "")
    with c.uow() as uow:
        acces = _acces(uow, user_id)
        acces.exiger()
        rows: list[DossierRow] = []
        page, truncated = 1, False
        while True:
            batch = _rows(uow, c.env, user_id, f, page=page, page_size=EXPORT_BATCH)
            rows.extend(batch.items)
            if len(rows) >= EXPORT_MAX:
                truncated = batch.has_next or len(rows) > EXPORT_MAX
                rows = rows[:EXPORT_MAX]
                break
            if not batch.has_next:
                break
            page += 1
        lignes = _lignes(uow, c.env, rows, acces.unites)
        ins = _ins_column(uow, rows)
    content = _workbook(f, rows, lignes, ins, truncated, c.env.clock.now())
    stamp = c.env.clock.now().astimezone(PARIS).strftime("%Y%m%d-%H%M")
    return Response(content, media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="tableau-de-bord-{f.section.value}-{stamp}.xlsx"',
        "Cache-Control": "no-store"})


# --- the Excel workbook ---------------------------------------------------------------------------------------------

HEADERS = ("N° de dossier", "Patient", "Statut de l'identité", "INS (identité qualifiée)", "Module",
           "Unité demandeuse", "Type d'orientation", "Demandes (unité : statut)", "Dernière action",
           "Pièces jointes", "Note interne", "Dossier lié", "Relance possible", "Relance automatique le",
           "Annulation automatique le")
WIDTHS = (14, 28, 20, 20, 11, 26, 16, 50, 17, 13, 12, 12, 15, 20, 22)


def _ins_column(uow: UnitOfWork, rows: list[DossierRow]) -> dict[int, str]:
    """The INS of each qualified patient, as ``ins_for_export`` lets it leave (never an unqualified one)."""
    out: dict[int, str] = {}
    qualified = sorted({r.patient_id for r in rows if r.patient_statut_identite == StatutIdentite.QUALIFIEE
                        and r.patient_id is not None})
    patients = uow.patients.get_many(qualified)  # two statements for the whole export, not two per row
    identifiants = uow.patients.identifiers_of(qualified)
    for patient_id, patient in patients.items():
        allowed = ins_for_export(patient, identifiants.get(patient_id, []))
        if allowed:
            out[patient_id] = allowed[0].valeur
    return out


def _excel_time(value: dt.datetime | None) -> dt.datetime | None:
    """Excel has no time zones: the Paris wall-clock time the user sees on the page."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(PARIS).replace(tzinfo=None)


def _excel_date(value: dt.datetime | None) -> dt.date | None:
    local = _excel_time(value)
    return local.date() if local else None


def _workbook(f: Filtres, rows: list[DossierRow], lignes: list[Ligne], ins: dict[int, str], truncated: bool,
              now: dt.datetime) -> bytes:
    # write-only mode streams rows instead of keeping a cell object graph: several times cheaper per row
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Dossiers")
    for index, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(HEADERS))}{len(rows) + 1}"
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")

    def cell(value: Any, *, font: Font | None = None, alignment: Alignment | None = None,
             number_format: str = "") -> Cell:
        made = WriteOnlyCell(sheet, value=value)
        if font is not None:
            made.font = font
        if alignment is not None:
            made.alignment = alignment
        if number_format:
            made.number_format = number_format
        return made

    sheet.append([cell(h, font=bold, alignment=wrap) for h in HEADERS])
    for row, ligne in zip(rows, lignes, strict=True):
        sheet.append([
            ligne.numero, ligne.patient_nom, ligne.identite,
            ins.get(row.patient_id or 0, ""), ligne.module, ligne.unite_nom, row.type_orientation.upper(),
            cell("\n".join(f"{d.unite_nom} : {d.statut}" for d in ligne.demandes), alignment=wrap),
            cell(_excel_time(ligne.derniere_action_at), number_format="DD/MM/YYYY HH:MM"),
            ligne.nb_pieces_jointes, "Oui" if ligne.bloc_note else "Non",
            "Oui" if ligne.dossier_lie_id else "Non", "Oui" if ligne.relance_possible else "Non",
            cell(_excel_date(ligne.relance_auto_at), number_format="DD/MM/YYYY"),
            cell(_excel_date(ligne.annulation_auto_at), number_format="DD/MM/YYYY")])

    about = book.create_sheet("À lire")
    about.column_dimensions["A"].width = 20
    about.column_dimensions["B"].width = 90
    about.append([cell("Export du tableau de bord Aiguillage", font=bold)])
    about.append(["Exporté le", cell(_excel_time(now), number_format="DD/MM/YYYY HH:MM")])
    about.append(["Section", SECTION_LABELS[f.section]])
    about.append(["Statuts", ", ".join(STATUS_LABELS[s] for s in f.statuts) or "tous"])
    about.append(["Recherche", f.recherche or "—"])
    about.append(["Module", MODULE_LABELS[f.module] if f.module else "tous"])
    about.append(["Dossiers exportés", len(rows)])
    if truncated:
        limite = f"{EXPORT_MAX:_}".replace("_", "\u202f")
        about.append(["Attention", f"Export limité aux {limite} premiers dossiers (les plus récemment modifiés) : "
                      "affinez les filtres pour obtenir les autres."])
    about.append(["INS", "L'INS n'est exporté que pour les identités qualifiées."])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
