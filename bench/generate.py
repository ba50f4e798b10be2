"""Generate a valid atmptrack data directory of any size, in the shape real data has.

    python bench/generate.py --size M --out /tmp/m        # 1,000 initiatives
    python bench/generate.py --initiatives 12 --seed 7 --out /tmp/tiny

The layout follows the bundled dataset: one file per initiative under `initiatives/`,
organisations spread over a few files per country under `organisations/`, and `sources.yaml`.
Consortia have 5 to 40 members and networks up to 300, drawn from a pool of about three
organisations per initiative with a skewed popularity, so that organisations take part in many
initiatives as real ones do. Every record cites sources; dates come in every precision the
format has; amounts are exact decimals. The result validates with no errors and no warnings.

The same seed and size give byte-identical files: one seeded `random.Random` per phase, no
iteration over sets (string hashing is randomised per process), no clock. YAML is written as
text, record by record, because building it with a YAML library would take longer than the
load it is meant to measure.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from random import Random
from typing import TextIO

SIZES = {"S": 100, "M": 1_000, "L": 10_000}
DEFAULT_SEED = 20250321
ORGANISATIONS_PER_INITIATIVE = 3
# Small runs (a test's dozen initiatives) still get enough organisations for a network to be
# larger than any consortium can be.
MIN_ORGANISATIONS = 50
CONSORTIUM_MAX = 40
NETWORK_MAX = 300
SOURCES_PER_INITIATIVE = 2
# Organisations of one country per file; a large country gets several files, as it would once
# one file became unwieldy to review.
ORGANISATIONS_PER_FILE = 500
# atmptrack refuses files above 8 MiB; the generator stays well below rather than find out.
MAX_FILE_BYTES = 7 * 1024 * 1024
# Status is derived from the dates against a fixed day, never the clock: output must not
# depend on when it was generated.
TODAY = date(2025, 6, 1)
# Written into the output directory so that regenerating may clear it, and nothing else may be.
MARKER = ".generated-by-atmptrack-bench"


# Where a record's text goes: the file's writer.
_Write = Callable[[str], None]


class GenerateError(Exception):
    """The output directory cannot be used, or a generated file would be too large."""


# --- vocabularies and name pools -------------------------------------------------------------


def _items(text: str) -> tuple[str, ...]:
    """A pool written as `a; b; c` over any number of lines (the formatter would give each
    item a line of its own)."""
    return tuple(item.strip() for item in text.replace("\n", ";").split(";") if item.strip())


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    weight: int
    currency: str
    legal: tuple[str, ...]
    cities: tuple[str, ...]


# code | name | weight (how many organisations) | currency | legal forms | cities
_COUNTRY_TABLE = """\
DE | Germany | 16 | EUR | GmbH; AG | Berlin; München; Heidelberg; Hamburg; Köln; Leipzig; Dresden; Freiburg; Tübingen; Göttingen
FR | France | 12 | EUR | SAS; SA | Paris; Lyon; Marseille; Toulouse; Lille; Nantes; Strasbourg; Montpellier; Bordeaux
IT | Italy | 11 | EUR | S.p.A.; S.r.l. | Milano; Roma; Torino; Bologna; Napoli; Padova; Firenze; Pisa
ES | Spain | 10 | EUR | S.L.; S.A. | Barcelona; Madrid; Valencia; Sevilla; Bilbao; Granada; Salamanca; Zaragoza
GB | United Kingdom | 9 | GBP | Ltd | London; Oxford; Cambridge; Manchester; Edinburgh; Sheffield; Glasgow
NL | Netherlands | 6 | EUR | B.V. | Amsterdam; Leiden; Utrecht; Rotterdam; Groningen; Nijmegen
BE | Belgium | 5 | EUR | NV; SRL | Leuven; Gent; Bruxelles; Liège; Antwerpen
CH | Switzerland | 4 | CHF | AG; SA | Zürich; Basel; Genève; Lausanne; Bern
SE | Sweden | 4 | SEK | AB | Stockholm; Uppsala; Göteborg; Lund; Umeå
AT | Austria | 3 | EUR | GmbH | Wien; Graz; Innsbruck; Salzburg
DK | Denmark | 3 | DKK | ApS; A/S | København; Aarhus; Odense
PL | Poland | 3 | PLN | sp. z o.o.; S.A. | Warszawa; Kraków; Gdańsk; Wrocław; Poznań; Łódź
PT | Portugal | 3 | EUR | Lda.; S.A. | Coimbra; Lisboa; Porto; Braga; Aveiro
NO | Norway | 2 | NOK | AS | Oslo; Bergen; Trondheim
FI | Finland | 2 | EUR | Oy | Helsinki; Turku; Tampere; Kuopio
IE | Ireland | 2 | EUR | Ltd; DAC | Dublin; Cork; Galway
CZ | Czechia | 2 | CZK | s.r.o.; a.s. | Praha; Brno; Olomouc
HU | Hungary | 2 | HUF | Kft.; Zrt. | Budapest; Szeged; Debrecen; Pécs
GR | Greece | 2 | EUR | S.A.; IKE | Athína; Thessaloníki; Pátra; Irákleio
SI | Slovenia | 1 | EUR | d.o.o. | Ljubljana; Maribor; Koper
HR | Croatia | 1 | EUR | d.o.o. | Zagreb; Split; Rijeka
RO | Romania | 1 | RON | S.R.L. | București; Cluj-Napoca; Iași
BG | Bulgaria | 1 | EUR | OOD; EAD | Sofia; Plovdiv; Varna
SK | Slovakia | 1 | EUR | s.r.o. | Bratislava; Košice
EE | Estonia | 1 | EUR | OÜ; AS | Tallinn; Tartu
LV | Latvia | 1 | EUR | SIA | Rīga
LT | Lithuania | 1 | EUR | UAB | Vilnius; Kaunas
LU | Luxembourg | 1 | EUR | S.A. | Luxembourg
IS | Iceland | 1 | ISK | ehf. | Reykjavík
CY | Cyprus | 1 | EUR | Ltd | Nicosia; Limassol
"""
# NO is Norway: the reader keeps scalars as text, and the data should say so at scale too.
COUNTRIES = tuple(
    Country(code, name, int(weight), currency, _items(legal), _items(cities))
    for code, name, weight, currency, legal, cities in (
        line.split(" | ") for line in _COUNTRY_TABLE.splitlines()
    )
)

SECTORS = (
    ("university", 22),
    ("research-institute", 18),
    ("hospital", 16),
    ("company", 22),
    ("innovation-intermediary", 5),
    ("public-agency", 4),
    ("government", 2),
    ("patient-organisation", 5),
    ("civil-society-organisation", 2),
    ("network", 2),
    ("funder", 1),
    ("other", 1),
)
FIELDS = _items("""
    Gene Therapy; Cell Therapy; Regenerative Medicine; Molecular Medicine; Immunology;
    Haematology; Tissue Engineering; Translational Research; Biomedicine; Rare Diseases;
    Neuroscience; Vector Biology; Stem Cell Research; Ophthalmology; Oncology; Biotechnology;
    Genome Editing; Paediatric Research
""")
UNITS = _items("Department; Institute; Laboratory; Clinic; Division; Unit; Centre; Chair")
# Company names: stem + ending + tail + the country's legal form ("Vectorix Therapeutics GmbH").
STEMS = _items("""
    Vecto; Gen; Cella; Regen; Thera; Immuno; Nova; Helix; Onco; Crispa; Vira; Lenti; Plasmi;
    Bio; Cura; Ortho; Neuro; Retina; Myo; Hema; Stemo; Tissu; Clona; Synth; Prime; Aavi; Lumi;
    Medi; Evo; Axo; Kyma; Trans; Cyto; Geno; Alle; Mira; Oligo; Sero; Vita; Xeno
""")
ENDINGS = _items("rix; genix; cure; tec; vance; nova; lytix; gene; vec; morph; gen; ix")
TAILS = _items("""
    Therapeutics; Bio; Biologics; Pharma; Biotech; Vectors; Cell Factory; Manufacturing;
    Diagnostics; Medicines; Genomics; Sciences
""")
PATIENT_TOPICS = _items("""
    Rare Diseases; Haemophilia; Muscular Dystrophy; Retinal Dystrophies; Sickle Cell Disease;
    Spinal Muscular Atrophy; Childhood Cancer; Cystic Fibrosis; Hereditary Ataxias;
    Leukodystrophies
""")

KIND_WEIGHTS = (
    ("project", 30),
    ("consortium", 25),
    ("network", 12),
    ("alliance", 5),
    ("hub", 10),
    ("centre-of-excellence", 10),
    ("programme", 8),
)
LEADS = _items("""
    European; Pan-European; Nordic; Iberian; Central European; Baltic; Mediterranean; Alpine;
    Transnational; Danube; North Sea; Atlantic
""")
NOUNS = {
    "project": ("Project", "Action", "Initiative"),
    "consortium": ("Consortium", "Partnership"),
    "network": ("Network", "Platform"),
    "alliance": ("Alliance",),
    "hub": ("Hub", "Excellence Hub", "Innovation Hub"),
    "centre-of-excellence": ("Centre of Excellence", "Competence Centre"),
    "programme": ("Programme", "Mission"),
}
TOPICS = _items("""
    Gene Therapy for Rare Diseases; CAR-T Cell Manufacturing; Cartilage Tissue Engineering;
    AAV Vector Production; Gene Editing of Blood Disorders; Regulatory Science for ATMPs;
    Clinical Translation of Cell Therapies; GMP Capacity for Advanced Therapies;
    Patient Access to ATMPs; iPSC-derived Therapies; Retinal Gene Therapy;
    Neuromuscular Gene Therapy; Hospital Exemption Practice; Point-of-Care Manufacturing;
    Non-viral Gene Delivery; Mesenchymal Stromal Cells; Skin Substitutes;
    Paediatric Advanced Therapies; Real-World Evidence for ATMPs; Allogeneic Cell Banks
""")
ACRONYM_PARTS = _items("""
    GENE; CAR; VEC; CELL; REGEN; TRANS; ATMP; CURE; THERA; NEXT; EURO; EDIT; IMMUNO; STEM; TIS;
    BIO; HOPE; PATH; LINK; JOIN; ACCESS; GMP; RARE; EVOLVE; SCALE; NEURO; RETINA; HEMA; MYO; NOVA
""")
AIMS = _items("""
    close the gap between scientific discovery and clinical use;
    shorten the path from first-in-human trials to marketing authorisation;
    build shared GMP manufacturing capacity;
    train researchers, clinicians and regulators;
    map ongoing preclinical and clinical studies;
    involve patients in the design of trials;
    harmonise hospital exemption practice across countries;
    lower the cost of vector and cell production;
    set up a registry of treated patients;
    support technology transfer between academia and industry
""")
# name | goal
WORKGROUP_NAMES = tuple(
    (name, goal)
    for name, goal in (
        line.split(" | ")
        for line in _items("""
    Project management and coordination | run the consortium and report to the funder;
    Mapping of preclinical and clinical studies | build a searchable database of studies;
    GMP manufacturing | pool and plan manufacturing capacity;
    Regulatory science | compare national procedures and draft recommendations;
    Health economics and access | model costs and evidence for reimbursement;
    Training and education | design courses for researchers and health professionals;
    Patient engagement | bring patient organisations into every phase;
    Dissemination and communication | make the results known beyond the consortium;
    Data and registries | set up shared data standards and a patient registry;
    Vector development | improve the yield and safety of viral vectors;
    Clinical trials | run and support early-phase trials;
    Technology transfer | move inventions to companies and hospitals
""")
    )
)
FIRST_NAMES = _items("""
    Ana; Luís; Mojca; Silvia; Jean; Søren; Zoë; Marta; Pierre; Giulia; Jan; Katarzyna; Mikael;
    Elena; Tomás; Ingrid; Fernando; Annette; Imma; Ioannis; Nadia; Matej; Eva; Lars; Chiara;
    Dóra; Javier; Agnieszka; Björn; Hélène; Stefan; Aoife; Rui; Lucía; Petra; Jiří; Maja; Olivier
""")
LAST_NAMES = _items("""
    Pereira de Almeida; Bencina; Martin-Lluesma; Dubois; Jørgensen; Rossi; Novak; Kowalska;
    Virtanen; García; Müller; Schmidt; Lefèvre; Costa; Horvat; Nagy; Papadopoulos; O'Brien;
    Andersson; Van den Berg; Janssens; Ferreira; Bianchi; Svoboda; Kovács; Lindqvist;
    Fernández; Wiśniewski; Künkele; Moreau; Nielsen; Zupan; De Vries; Romano; Hoffmann; Silva
""")
PERSON_ROLES = _items("""
    project coordinator; work package leader; scientific director; head of the GMP facility;
    patient representative; regulatory affairs lead; clinical lead; communication officer;
    managing director; principal investigator
""")
PUBLISHERS = _items("""
    European Commission, CORDIS; EurekAlert!; Labiotech.eu; Euractiv; European Medicines Agency;
    Fierce Biotech; Research Professional News; Science|Business; ISCT Europe;
    European Society of Gene and Cell Therapy
""")
# funder, programme, instrument
PROGRAMMES: tuple[tuple[str, str, str | None], ...] = (
    ("European Union", "Horizon Europe", "Research and Innovation Action (RIA)"),
    ("European Union", "Horizon Europe", "Coordination and Support Action (CSA)"),
    ("European Commission", "Horizon 2020", "Widening, Teaming for Excellence"),
    ("European Union", "EU4Health", None),
    ("European Union", "Interreg Europe", None),
    ("Innovative Health Initiative", "IHI Joint Undertaking", "Research and Innovation Action"),
)

THERAPY_AREAS = ("gene", "cell", "tissue")
MILESTONE_KINDS = ("meeting", "report", "launch", "presentation", "mandate", "other")
# Precisions of milestone dates, with how often each is drawn: every form the format allows.
PRECISIONS = (("day", 45), ("month", 25), ("year", 10), ("month-day", 12), ("month-only", 8))
SPAN_PRECISIONS = (("day", 50), ("month", 35), ("year", 15))

_SLUG_EXTRA = str.maketrans(
    {"ø": "o", "æ": "ae", "ß": "ss", "ł": "l", "đ": "d", "þ": "th", "'": ""}
)
_NOT_ID = re.compile(r"[^a-z0-9]+")
# Text written as a plain scalar: no YAML indicator at the start, and no `: `, ` #`, commas or
# brackets anywhere, so it reads the same in block and in flow context. Anything else is
# written double-quoted (JSON's escapes are valid YAML).
_PLAIN = re.compile(r"[A-Za-z0-9\u00c0-\u024f][A-Za-z0-9\u00c0-\u024f .'()/&|!-]*")
_NULLS = frozenset({"null", "Null", "NULL", "~"})


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower().translate(_SLUG_EXTRA))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii")
    return _NOT_ID.sub("-", ascii_text).strip("-")


FIRST_SLUGS = tuple(_slug(n) for n in FIRST_NAMES)
LAST_SLUGS = tuple(_slug(n) for n in LAST_NAMES)


def q(text: str) -> str:
    """A scalar as YAML text: plain when that is unambiguous, else double-quoted."""
    if _PLAIN.fullmatch(text) and not text.endswith(" ") and text not in _NULLS:
        return text
    return json.dumps(text, ensure_ascii=False)


def ids(values: list[str]) -> str:
    return "[" + ", ".join(values) + "]"


def partial(when: date, precision: str) -> str:
    """A date written at one precision; the year-unknown forms are quoted, as the data has them."""
    if precision == "day":
        return when.isoformat()
    if precision == "month":
        return f"{when.year:04d}-{when.month:02d}"
    if precision == "year":
        return f"{when.year:04d}"
    if precision == "month-day":
        return f'"--{when.month:02d}-{when.day:02d}"'
    return f'"--{when.month:02d}"'


def weighted(rng: Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([name for name, _ in table], [w for _, w in table])[0]


def day_between(rng: Random, lo: date, hi: date) -> date:
    return lo + timedelta(days=rng.randrange((hi - lo).days + 1))


def amount(rng: Random, lo: int, hi: int) -> str:
    """An exact decimal: whole euros mostly, cents or finer sometimes, never a float."""
    whole = rng.randint(lo, hi)
    roll = rng.random()
    if roll < 0.3:
        return f"{whole}.{rng.randrange(100):02d}"
    if roll < 0.35:
        return f"{whole}.{rng.randrange(1, 10_000):04d}".rstrip("0")
    return str(whole)


def rounded(text: str) -> str:
    """The figure a press release gives for an amount: two significant digits."""
    whole = int(text.split(".")[0])
    digits = len(str(whole))
    step = 10 ** max(0, digits - 2)
    return str(max(step, round(whole / step) * step))


# --- the plan: what every file needs to know about the others --------------------------------


@dataclass
class Plan:
    """Who exists and who is in what; small enough to keep whole at 10,000 initiatives."""

    seed: int
    initiatives: int
    organisations: int
    sources: int
    org_country: list[int] = field(default_factory=list)  # index into COUNTRIES
    org_sector: list[str] = field(default_factory=list)
    org_city: list[str] = field(default_factory=list)
    org_name: list[str] = field(default_factory=list)
    org_parent: list[int | None] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    acronyms: list[str] = field(default_factory=list)
    members: list[list[int]] = field(default_factory=list)


def org_id(index: int) -> str:
    return f"org-{index + 1:05d}"


def ini_id(index: int) -> str:
    return f"ini-{index + 1:05d}"


def src_id(index: int) -> str:
    return f"src-{index + 1:06d}"


def _org_name(rng: Random, sector: str, city: str, country: Country) -> str:
    f = rng.choice(FIELDS)
    if sector == "university":
        return rng.choice(
            (
                f"University of {city}",
                f"{city} University of Technology",
                f"Medical University of {city}",
                f"{city} University",
                f"Faculty of Medicine, University of {city}",
                f"Department of {f}, University of {city}",
            )
        )
    if sector == "research-institute":
        return rng.choice(
            (
                f"{city} Institute for {f}",
                f"Institute of {f} {city}",
                f"{city} Centre for {f}",
                f"National Institute of {f}, {country.name}",
            )
        )
    if sector == "hospital":
        return rng.choice(
            (
                f"{city} University Hospital",
                f"Children's Hospital {city}",
                f"General Hospital of {city}",
                f"{city} Cancer Centre",
                f"{city} University Medical Centre",
            )
        )
    if sector == "company":
        return f"{rng.choice(STEMS)}{rng.choice(ENDINGS)} {rng.choice(TAILS)} {rng.choice(country.legal)}"
    if sector == "innovation-intermediary":
        return rng.choice(
            (
                f"{city} Science Park",
                f"{city} Biotech Incubator",
                f"Technology Transfer Office {city}",
            )
        )
    if sector == "public-agency":
        return rng.choice(
            (f"{city} Regional Development Agency", f"Health Research Agency of {city}")
        )
    if sector == "government":
        return rng.choice((f"Ministry of Health of {country.name}", f"City of {city}"))
    if sector == "patient-organisation":
        return f"{city} Association for {rng.choice(PATIENT_TOPICS)}"
    if sector == "civil-society-organisation":
        return f"{city} Foundation for {f}"
    if sector == "network":
        return rng.choice((f"{city} Biocluster", f"{country.name} Advanced Therapies Network"))
    if sector == "funder":
        return rng.choice((f"{country.name} Research Council", f"{city} Research Foundation"))
    return f"{city} Biobank"


def _size(rng: Random, kind: str, most: int) -> int:
    """Members of an initiative of this kind: skewed towards the small end of its range."""
    lo, hi = {
        "project": (5, CONSORTIUM_MAX),
        "consortium": (5, CONSORTIUM_MAX),
        # Networks start above the largest consortium: they are the wide, loose bodies.
        "network": (CONSORTIUM_MAX + 1, NETWORK_MAX),
        "alliance": (10, 120),
        "hub": (5, 25),
        "centre-of-excellence": (3, 12),
        "programme": (3, 20),
    }[kind]
    return min(most, lo + int((hi - lo) * rng.random() ** 2))


def make_plan(initiatives: int, seed: int) -> Plan:
    rng = Random(f"{seed}:plan")
    n_orgs = max(MIN_ORGANISATIONS, ORGANISATIONS_PER_INITIATIVE * initiatives)
    plan = Plan(seed, initiatives, n_orgs, SOURCES_PER_INITIATIVE * initiatives)

    country_weights = [c.weight for c in COUNTRIES]
    universities: dict[int, list[int]] = {}
    names: dict[str, int] = {}
    for k in range(n_orgs):
        ci = rng.choices(range(len(COUNTRIES)), country_weights)[0]
        country = COUNTRIES[ci]
        sector = weighted(rng, SECTORS)
        city = rng.choice(country.cities)
        name = _org_name(rng, sector, city, country)
        # No two organisations share a name, so that none are indistinguishable in a table.
        # Thirty thousand organisations outnumber the name pools' cities, so a collision
        # becomes a unit of the organisation first, as partner lists name them ("Department
        # of Immunology, University of Lund"), and a number only as a last resort.
        for _ in range(4):
            if name not in names:
                break
            name = _org_name(rng, sector, city, country)
        base = name
        for _ in range(8):
            if name not in names:
                break
            name = f"{rng.choice(UNITS)} of {rng.choice(FIELDS)}, {base}"
        if name in names:
            names[name] += 1
            name = f"{name} ({names[name]})"
        names[name] = 1
        parent = None
        if sector in ("research-institute", "hospital") and rng.random() < 0.12:
            # An earlier university of the same country hosts it: parents always point
            # backwards, so they can never form a cycle.
            hosts = universities.get(ci)
            if hosts:
                parent = rng.choice(hosts)
        if sector == "university":
            universities.setdefault(ci, []).append(k)
        plan.org_country.append(ci)
        plan.org_sector.append(sector)
        plan.org_city.append(city)
        plan.org_name.append(name)
        plan.org_parent.append(parent)

    kinds = [weighted(rng, KIND_WEIGHTS) for _ in range(initiatives)]
    if initiatives >= 2 and "network" not in kinds:
        kinds[1] = "network"
    plan.kinds = kinds
    taken: dict[str, int] = {}
    for _ in range(initiatives):
        a, b = rng.sample(ACRONYM_PARTS, 2)
        glue = rng.choice(("", "", "4", "2", ""))
        acronym = f"{a}{glue}{b}" if rng.random() < 0.7 else f"{a.capitalize()}{b[0]}"
        if acronym in taken:
            taken[acronym] += 1
            acronym = f"{acronym}{taken[acronym]}"
        taken[acronym] = 1
        plan.acronyms.append(acronym)

    sizes = [_size(rng, kind, n_orgs) for kind in kinds]
    while sum(sizes) < n_orgs:  # only for a handful of initiatives: make room for everyone
        sizes[rng.randrange(initiatives)] += 1
        sizes = [min(s, n_orgs) for s in sizes]

    # Every organisation is in at least one initiative (no orphan warnings): deal them out
    # first, then fill each initiative by popularity, which a random few have far more of.
    order = list(range(n_orgs))
    rng.shuffle(order)
    home: list[list[int]] = [[] for _ in range(initiatives)]
    slot = 0
    for org in order:
        while len(home[slot]) >= sizes[slot]:
            slot = (slot + 1) % initiatives
        home[slot].append(org)
        slot = (slot + 1) % initiatives
    popularity = list(range(n_orgs))
    rng.shuffle(popularity)
    cum: list[float] = []
    total = 0.0
    weights = [0.0] * n_orgs
    for rank, org in enumerate(popularity):
        weights[org] = (rank + 1) ** -0.5
    for w in weights:
        total += w
        cum.append(total)
    everyone = range(n_orgs)
    for i in range(initiatives):
        chosen = dict.fromkeys(home[i])
        size = sizes[i]
        for _ in range(8):
            if len(chosen) >= size:
                break
            for org in rng.choices(everyone, cum_weights=cum, k=2 * (size - len(chosen))):
                if org not in chosen:
                    chosen[org] = None
                    if len(chosen) == size:
                        break
        if len(chosen) < size:  # a tiny pool: take the rest in a random order
            rest = [o for o in everyone if o not in chosen]
            rng.shuffle(rest)
            chosen.update(dict.fromkeys(rest[: size - len(chosen)]))
        members = list(chosen)
        rng.shuffle(members)
        plan.members.append(members)
    return plan


# --- writing ---------------------------------------------------------------------------------


class Sink:
    """One output file, written record by record, with a size guard."""

    def __init__(self, path: Path, header: str) -> None:
        self.path = path
        self.handle: TextIO = path.open("w", encoding="utf-8", newline="\n")
        self.bytes = 0
        self.write(header)

    def write(self, text: str) -> None:
        self.bytes += len(text.encode("utf-8")) if not text.isascii() else len(text)
        if self.bytes > MAX_FILE_BYTES:
            self.handle.close()
            raise GenerateError(f"{self.path} would exceed {MAX_FILE_BYTES} bytes")
        self.handle.write(text)

    def close(self) -> None:
        self.handle.close()


def write_sources(out: Path, plan: Plan) -> None:
    rng = Random(f"{plan.seed}:sources")
    sink = Sink(
        out / "sources.yaml",
        "# The public pages every fact cites. Generated by bench/generate.py "
        f"(seed {plan.seed}); titles are invented.\nsources:\n",
    )
    for s in range(plan.sources):
        owner = s // SOURCES_PER_INITIATIVE
        acronym = plan.acronyms[owner]
        if s % SOURCES_PER_INITIATIVE == 0:
            title = f"CORDIS project {101_000_000 + owner} ({acronym})"
            publisher = "European Commission, CORDIS"
            url = f"https://cordis.europa.eu/project/id/{101_000_000 + owner}"
        else:
            title = f"{acronym} {rng.choice(('kicks off', 'presents its results', 'welcomes new partners', 'launches its work groups', 'publishes its first report'))}"
            publisher = rng.choice(PUBLISHERS)
            url = f"https://news.example.org/{acronym.lower()}/{s + 1}"
        lines = [
            f"  - id: {src_id(s)}\n",
            f"    title: {q(title)}\n",
            f"    publisher: {q(publisher)}\n",
            f"    url: {url}\n",
        ]
        if rng.random() < 0.7:
            when = day_between(rng, date(2015, 1, 1), date(2025, 5, 31))
            lines.append(f"    published: {partial(when, weighted(rng, SPAN_PRECISIONS))}\n")
        if rng.random() < 0.1:
            lines.append("    note: The page states no publication date.\n")
        lines.append("\n")
        sink.write("".join(lines))
    sink.close()


def write_organisations(out: Path, plan: Plan) -> int:
    """Organisations grouped by country, a few files for the large ones; returns the file count."""
    rng = Random(f"{plan.seed}:organisations")
    folder = out / "organisations"
    folder.mkdir()
    by_country: dict[int, list[int]] = {}
    for k, ci in enumerate(plan.org_country):
        by_country.setdefault(ci, []).append(k)
    files = 0
    for ci in sorted(by_country, key=lambda c: COUNTRIES[c].code):
        country = COUNTRIES[ci]
        members = by_country[ci]
        chunks = max(1, -(-len(members) // ORGANISATIONS_PER_FILE))
        for chunk in range(chunks):
            part = members[chunk::chunks]
            suffix = f"-{chunk + 1}" if chunks > 1 else ""
            sink = Sink(
                folder / f"{country.code.lower()}{suffix}.yaml",
                f"# Organisations in {country.name}"
                + (f", part {chunk + 1} of {chunks}" if chunks > 1 else "")
                + ". Countries are general knowledge unless a source says otherwise.\n"
                "organisations:\n",
            )
            for k in part:
                sink.write(_organisation(rng, plan, k, country))
            sink.close()
            files += 1
    return files


def _organisation(rng: Random, plan: Plan, k: int, country: Country) -> str:
    name = plan.org_name[k]
    sector = plan.org_sector[k]
    lines = [f"  - id: {org_id(k)}\n", f"    name: {q(name)}\n"]
    if rng.random() < 0.4:
        initials = "".join(w[0] for w in name.split() if w[0].isupper())
        if len(initials) >= 2:
            lines.append(f"    short_name: {q(initials)}\n")
    if rng.random() < 0.15:
        lines.append(f"    other_names: [{q(name.upper())}]\n")
    known_country = rng.random() < 0.95
    if known_country:
        lines.append(f"    country: {country.code}\n")
    lines.append(f"    sector: {sector}\n")
    if sector == "hospital" and rng.random() < 0.5:
        if "University" in name:
            lines.append("    helix: academia\n")
            lines.append("    helix_reason: a university hospital, as its name says\n")
        else:
            lines.append("    helix: government\n")
            lines.append("    helix_reason: a public hospital of the regional health service\n")
    elif sector == "network" and rng.random() < 0.5:
        lines.append("    helix: industry\n")
        lines.append("    helix_reason: a cluster of companies, as its members page shows\n")
    city = rng.random() < 0.7
    if city:
        lines.append(f"    city: {q(plan.org_city[k])}\n")
    if rng.random() < 0.3:
        lines.append(f"    website: https://www.{org_id(k)}.example.org/\n")
    parent = plan.org_parent[k]
    if parent is not None:
        lines.append(f"    parent: {org_id(parent)}\n")
    if rng.random() < 0.3:
        pic = 900_000_000 + rng.randrange(100_000_000)
        ror = "0" + "".join(rng.choices("abcdefghjkmnpqrstvwxyz0123456789", k=8))
        lines.append(f'    ids: {{pic: "{pic}", ror: {ror}}}\n')
    if rng.random() < 0.05:
        lines.append("    note: No source states its quadruple-helix group.\n")
    cited = rng.sample(range(plan.sources), min(plan.sources, 1 + (rng.random() < 0.5)))
    lines.append(f"    sources: {ids([src_id(s) for s in sorted(cited)])}\n")
    inferred = []
    if known_country and rng.random() < 0.6:
        inferred.append("      country: general knowledge\n")
    if city and rng.random() < 0.3:
        inferred.append("      city: from the name\n")
    if parent is not None:
        inferred.append("      parent: an institute of the university, as its pages say\n")
    if inferred:
        lines.append("    inferred:\n")
        lines.extend(inferred)
    lines.append("\n")
    return "".join(lines)


def write_initiatives(out: Path, plan: Plan) -> None:
    rng = Random(f"{plan.seed}:initiatives")
    folder = out / "initiatives"
    folder.mkdir()
    for i in range(plan.initiatives):
        sink = Sink(
            folder / f"{ini_id(i)}.yaml",
            f"# {plan.acronyms[i]}: generated by bench/generate.py (seed {plan.seed}), "
            f"initiative {i + 1} of {plan.initiatives}.\ninitiatives:\n",
        )
        _initiative(rng, plan, i, sink)
        sink.close()


def _cite(rng: Random, pool: list[str], more: float = 0.6) -> str:
    """The sources of one record: one to three of its initiative's pool.

    `more` is the chance of a second source; members, the bulk of the records, are usually
    named together on one or two pages, so they pass a lower one.
    """
    k = 1 + (rng.random() < more) + (rng.random() < more / 2)
    return ids(rng.sample(pool, min(k, len(pool))))


def _initiative(rng: Random, plan: Plan, i: int, sink: Sink) -> None:
    kind = plan.kinds[i]
    acronym = plan.acronyms[i]
    members = plan.members[i]
    own = [src_id(i * SOURCES_PER_INITIATIVE + j) for j in range(SOURCES_PER_INITIATIVE)]
    shared = [src_id(rng.randrange(plan.sources)) for _ in range(rng.randint(1, 4))]
    pool = list(dict.fromkeys(own + shared))
    w = sink.write

    # The span: real days underneath, written at a precision; every other date of the
    # initiative is drawn inside it, so no milestone falls outside (no warning).
    start = day_between(rng, date(2012, 1, 1), date(2026, 6, 30))
    end = start + timedelta(days=rng.randint(700, 2600))
    has_start = rng.random() < 0.85
    has_end = rng.random() < (0.75 if has_start else 0.4)
    start_precision = weighted(rng, SPAN_PRECISIONS)
    end_precision = weighted(rng, SPAN_PRECISIONS)

    lines = [
        f"  - id: {ini_id(i)}\n",
        f"    acronym: {q(acronym)}\n",
        f"    name: {q(f'{rng.choice(LEADS)} {rng.choice(NOUNS[kind])} on {rng.choice(TOPICS)}')}\n",
        f"    kind: {kind}\n",
    ]
    if rng.random() < 0.4:
        lines.append(
            f"    summary: {q(f'{acronym} brings together {len(members)} organisations to {rng.choice(AIMS)}.')}\n"
        )
    if rng.random() < 0.4:
        lines.append("    aims:\n")
        lines.extend(f"      - {q(a)}\n" for a in rng.sample(AIMS, rng.randint(2, 4)))
    if rng.random() < 0.9:
        areas = [a for a in THERAPY_AREAS if rng.random() < 0.5] or ["gene"]
        lines.append(f"    therapy_areas: {ids(areas)}\n")
    if (has_start or has_end) and rng.random() < 0.6:
        status = "planned" if start > TODAY else "ended" if end < TODAY else "active"
        lines.append(f"    status: {status}\n")
    if has_start:
        lines.append(f"    start: {partial(start, start_precision)}\n")
    if has_end:
        lines.append(f"    end: {partial(end, end_precision)}\n")
    if rng.random() < 0.5:
        lines.append(f"    website: https://{acronym.lower()}.example.eu/\n")
    if kind in ("project", "consortium") and rng.random() < 0.7:
        lines.append(f'    ids: {{cordis: "{101_000_000 + i}"}}\n')
    if rng.random() < 0.1:
        lines.append(f"    note: {q('The sources disagree on the number of partners.')}\n")
    lines.append(f"    sources: {ids(pool[: 2 + (rng.random() < 0.5)])}\n")
    inferred = []
    if has_start and start_precision == "month" and rng.random() < 0.3:
        inferred.append("      start: month of the kick-off meeting\n")
    if has_end and rng.random() < 0.2:
        inferred.append("      end: the funding period stated by the funder\n")
    if inferred:
        lines.append("    inferred:\n")
        lines.extend(inferred)
    w("".join(lines))

    lo = start if has_start else date(2012, 1, 1)
    hi = end if has_end else (start + timedelta(days=1800) if has_start else date(2027, 12, 31))
    _partner_counts(rng, plan, members, lo, hi, pool, w)
    _members(rng, kind, members, pool, w)
    people = _people(rng, members, pool, w)
    _workgroups(rng, kind, members, people, pool, w)
    _milestones(rng, people, has_start, start, lo, hi, pool, w)
    _funding(rng, plan, kind, members, lo, hi, pool, w)
    _relations(rng, plan, i, pool, w)
    w("\n")


def _partner_counts(
    rng: Random,
    plan: Plan,
    members: list[int],
    lo: date,
    hi: date,
    pool: list[str],
    w: _Write,
) -> None:
    if rng.random() >= 0.5:
        return
    n = len(members)
    countries = len({plan.org_country[m] for m in members})
    lines = ["    partner_counts:\n"]
    if rng.random() < 0.3:
        early = max(1, n - rng.randint(1, max(1, n // 3)))
        when = day_between(rng, lo, hi)
        lines.append(
            f"      - {{count: {early}, as_of: {partial(when, weighted(rng, PRECISIONS))}, "
            f"note: {q('partners at the kick-off')}, sources: {_cite(rng, pool)}}}\n"
        )
    # The last count is the declared one: never below the members listed unless it says
    # "at least" or "more than", so no warning is due.
    if rng.random() < 0.7:
        qualifier = "" if rng.random() < 0.7 else ", qualifier: approximately"
        count = n + rng.randint(0, max(1, n // 4))
    else:
        qualifier = rng.choice((", qualifier: at-least", ", qualifier: more-than"))
        count = max(1, n - rng.randint(0, n // 3))
    extra = f", countries: {countries}" if rng.random() < 0.5 else ""
    lines.append(f"      - {{count: {count}{qualifier}{extra}, sources: {_cite(rng, pool)}}}\n")
    w("".join(lines))


_ROLE_TAIL = {
    "project": ("partner", "partner", "partner", "partner", "associated", "supporting"),
    "consortium": ("partner", "partner", "partner", "associated"),
    "network": ("member", "member", "member", "member", "associated"),
    "alliance": ("member", "member", "partner"),
    "hub": ("partner", "partner", "supporting"),
    "centre-of-excellence": ("partner",),
    "programme": ("partner", "supporting"),
}


def _members(rng: Random, kind: str, members: list[int], pool: list[str], w: _Write) -> None:
    lines = ["    members:\n"]
    tail = _ROLE_TAIL[kind]
    funded = kind in ("project", "consortium")
    for position, org in enumerate(members):
        if position == 0:
            role = "host" if kind == "centre-of-excellence" else "coordinator"
            if kind in ("network", "programme") and rng.random() < 0.3:
                role = rng.choice(tail)  # some networks name no coordinator
        elif position == 1 and kind in ("project", "consortium", "hub") and rng.random() < 0.5:
            role = "co-coordinator"
        else:
            role = rng.choice(tail)
        extra = ""
        if funded and rng.random() < 0.3:
            contribution = amount(rng, 50_000, 2_500_000)
            extra = f", ec_contribution: {contribution}"
            if rng.random() < 0.5:
                # Net of what the member passes on to linked third parties: never more.
                net = int(float(contribution) * rng.uniform(0.7, 1.0))
                extra += f", net_ec_contribution: {net}"
        if rng.random() < 0.05:
            extra += f", note: {q('joined after the kick-off')}"
        lines.append(
            f"      - {{organisation: {org_id(org)}, role: {role}{extra}, sources: {_cite(rng, pool, 0.25)}}}\n"
        )
    w("".join(lines))


def _people(rng: Random, members: list[int], pool: list[str], w: _Write) -> list[str]:
    count = rng.choice((0, 1, 2, 3, 3, 4, 5, 6, 8))
    if not count:
        return []
    lines = ["    people:\n"]
    people: list[str] = []
    for _ in range(count):
        fi = rng.randrange(len(FIRST_NAMES))
        li = rng.randrange(len(LAST_NAMES))
        pid = f"{FIRST_SLUGS[fi]}-{LAST_SLUGS[li]}"
        n = 2
        while pid in people:
            pid = f"{FIRST_SLUGS[fi]}-{LAST_SLUGS[li]}-{n}"
            n += 1
        people.append(pid)
        parts = [f"id: {pid}", f"name: {q(f'{FIRST_NAMES[fi]} {LAST_NAMES[li]}')}"]
        if rng.random() < 0.8:
            parts.append(f"role: {q(rng.choice(PERSON_ROLES))}")
        if rng.random() < 0.8:
            parts.append(f"organisation: {org_id(rng.choice(members))}")
        parts.append(f"sources: {_cite(rng, pool)}")
        lines.append("      - {" + ", ".join(parts) + "}\n")
    w("".join(lines))
    return people


def _workgroups(
    rng: Random,
    kind: str,
    members: list[int],
    people: list[str],
    pool: list[str],
    w: _Write,
) -> None:
    if kind in ("project", "consortium"):
        count, group_kind = rng.randint(4, 10), "work-package"
    elif kind in ("network", "alliance"):
        count, group_kind = rng.randint(0, 7), "work-group"
    else:
        count, group_kind = rng.randint(0, 4), rng.choice(("work-package", "work-group"))
    if not count:
        return
    lines = ["    workgroups:\n"]
    prefix = "wp" if group_kind == "work-package" else "wg"
    for number, (name, goal) in enumerate(rng.sample(WORKGROUP_NAMES, count), start=1):
        lines.append(f"      - id: {prefix}{number}\n")
        lines.append(f"        kind: {group_kind}\n")
        lines.append(f"        number: {number}\n")
        lines.append(f"        name: {q(name)}\n")
        if rng.random() < 0.7:
            lines.append(f"        goal: {q(goal)}\n")
        if rng.random() < 0.8:
            leads = rng.sample(members, 1 + (rng.random() < 0.2 and len(members) > 1))
            lines.append(f"        leads: {ids([org_id(o) for o in leads])}\n")
        if people and rng.random() < 0.4:
            lines.append(f"        coordinators: [{rng.choice(people)}]\n")
        lines.append(f"        sources: {_cite(rng, pool)}\n")
    w("".join(lines))


def _milestones(
    rng: Random,
    people: list[str],
    has_start: bool,
    start: date,
    lo: date,
    hi: date,
    pool: list[str],
    w: _Write,
) -> None:
    count = rng.choice((0, 1, 2, 3, 3, 4, 5, 6))
    if not count:
        return
    lines = ["    milestones:\n"]
    seen: dict[str, int] = {}
    for n in range(count):
        if n == 0 and has_start:
            kind, when, precision = "kick-off", start, "day"
            mid = "kick-off"
        else:
            kind = rng.choice(MILESTONE_KINDS)
            when, precision = day_between(rng, lo, hi), weighted(rng, PRECISIONS)
            seen[kind] = seen.get(kind, 0) + 1
            mid = f"{kind}-{seen[kind]}"
        lines.append(f"      - id: {mid}\n")
        lines.append(f"        kind: {kind}\n")
        lines.append(f"        date: {partial(when, precision)}\n")
        if precision == "day" and rng.random() < 0.2:
            finish = when + timedelta(days=rng.randint(1, 2))
            lines.append(f"        end_date: {finish.isoformat()}\n")
        if rng.random() < 0.15:
            lines.append("        date_qualifier: approximately\n")
        if rng.random() < 0.5:
            lines.append(f"        place: {q(rng.choice(COUNTRIES).cities[0])}\n")
        if people and rng.random() < 0.5:
            speakers = rng.sample(people, rng.randint(1, len(people)))
            lines.append(f"        speakers: {ids(speakers)}\n")
        lines.append(f"        sources: {_cite(rng, pool)}\n")
        if precision in ("month-day", "month-only") and rng.random() < 0.5:
            lines.append("        inferred:\n")
            lines.append("          date: the source gives the day but not the year\n")
    w("".join(lines))


def _funding(
    rng: Random,
    plan: Plan,
    kind: str,
    members: list[int],
    lo: date,
    hi: date,
    pool: list[str],
    w: _Write,
) -> None:
    if kind in ("project", "consortium", "centre-of-excellence"):
        count = rng.choice((1, 1, 1, 2))
    else:
        count = rng.choice((0, 0, 1))
    if not count:
        return
    lines = ["    funding:\n"]
    country = COUNTRIES[plan.org_country[members[0]]]
    for n in range(count):
        if n == 0:
            funder, programme, instrument = rng.choice(PROGRAMMES)
            fid, currency = _slug(programme), "EUR"
        else:
            funder, programme, instrument = (
                f"{country.name} Research Council",
                None,
                "national co-funding",
            )
            fid, currency = "national-co-funding", country.currency
        lines.append(f"      - id: {fid}\n")
        known = rng.random() < 0.9
        value = amount(rng, 300_000, 30_000_000)
        if known:
            lines.append(f"        amount: {value}\n")
        lines.append(f"        currency: {currency}\n")
        if known and rng.random() < 0.5:
            lines.append(f"        qualifier: {rng.choice(('exact', 'exact', 'at-most'))}\n")
        lines.append(f"        funder: {q(funder)}\n")
        if programme:
            lines.append(f"        programme: {q(programme)}\n")
        if instrument:
            lines.append(f"        instrument: {q(instrument)}\n")
        if rng.random() < 0.5:
            first = day_between(rng, lo, hi)
            last = day_between(rng, first, hi)
            lines.append(f"        start: {partial(first, weighted(rng, SPAN_PRECISIONS))}\n")
            lines.append(f"        end: {partial(last, weighted(rng, SPAN_PRECISIONS))}\n")
        lines.append(f"        sources: {_cite(rng, pool)}\n")
        if known and rng.random() < 0.3:
            lines.append("        also_reported:\n")
            lines.append(
                f"          - {{amount: {rounded(value)}, qualifier: approximately, "
                f"note: {q('a round figure in the press release')}, sources: {_cite(rng, pool)}}}\n"
            )
    w("".join(lines))


_RELATION_KINDS = ("grew-out-of", "part-of", "brings-together", "related-to")


def _relations(rng: Random, plan: Plan, i: int, pool: list[str], w: _Write) -> None:
    if plan.initiatives < 2 or rng.random() >= 0.35:
        return
    lines = ["    relations:\n"]
    seen: dict[tuple[str, int], None] = {}
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(_RELATION_KINDS)
        # Mostly towards earlier initiatives, as a new one grows out of or joins what exists.
        other = rng.randrange(i) if i and rng.random() < 0.8 else rng.randrange(plan.initiatives)
        if other == i or (kind, other) in seen:
            continue
        seen[(kind, other)] = None
        lines.append(
            f"      - {{kind: {kind}, initiative: {ini_id(other)}, sources: {_cite(rng, pool)}}}\n"
        )
    if seen:
        w("".join(lines))


# --- entry points ----------------------------------------------------------------------------


def _prepare(out: Path) -> None:
    """Make out an empty directory; refuse one this generator did not make."""
    if out.exists():
        if not out.is_dir():
            raise GenerateError(f"{out} exists and is not a directory")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise GenerateError(
                f"{out} is not empty and was not made by this generator; "
                "give a new or empty directory"
            )
        for name in ("initiatives", "organisations"):
            shutil.rmtree(out / name, ignore_errors=True)
        (out / "sources.yaml").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def generate(out: Path, initiatives: int, seed: int = DEFAULT_SEED) -> None:
    """Write a data directory of `initiatives` initiatives into out (new, empty, or made here)."""
    if initiatives < 1:
        raise GenerateError("at least one initiative is needed")
    _prepare(out)
    (out / MARKER).write_text(
        f"bench/generate.py --initiatives {initiatives} --seed {seed}\n", encoding="utf-8"
    )
    plan = make_plan(initiatives, seed)
    write_sources(out, plan)
    write_organisations(out, plan)
    write_initiatives(out, plan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    how_many = parser.add_mutually_exclusive_group(required=True)
    how_many.add_argument(
        "--size", choices=sorted(SIZES), help="S, M or L: 100, 1,000, 10,000 initiatives"
    )
    how_many.add_argument("--initiatives", type=int, help="any number of initiatives")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    parser.add_argument("--out", type=Path, required=True, help="directory to write (new or empty)")
    args = parser.parse_args(argv)
    count = SIZES[args.size] if args.size else int(args.initiatives)
    began = time.perf_counter()
    try:
        generate(args.out, count, args.seed)
    except GenerateError as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 2
    files = sum(1 for p in args.out.rglob("*.yaml"))
    size = sum(p.stat().st_size for p in args.out.rglob("*.yaml"))
    print(
        f"generate: {count} initiatives, {files} files, {size / 1e6:.1f} MB in "
        f"{args.out} ({time.perf_counter() - began:.1f} s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
