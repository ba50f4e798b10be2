"""The bundled dataset checked against what its sources say."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from atmptrack.dataset import Dataset, read_dataset
from atmptrack.schema import Initiative

from conftest import BUNDLED

# The public pages the dataset may cite (the seeds' pages and the checked-facts list).
ALLOWED_URLS = {
    "https://ctgct.si/en/objave/ctgcts-role-in-the-geneh-project/",
    "https://vhio.net/2024/02/01/vhio-participates-in-the-join4atmp-project-which-aims-to-accelerate-european-advanced-therapy-medicinal-product-atmp-development-and-ensure-wide-spread-atmp-access",
    "https://biocat.cat/en/current-news/news/advanced-therapies-network-catalonia-launches-seven-work-groups-accelerate",
    "https://pages.dev.ucframework.pt/en/uc-news/articles/university-of-coimbra-leads-consortium-with-nearly-5m-funding-to-accelerate-treatment-of-diseases-with-gene-therapy",
    "https://www.bluepharmagroup.com/multimedia/bluepharma/tfkLyEScG-geneh_pt.html",
    "https://www.jafral.com/resources/jafral-contributes-to-europes-first-gene-immunotherapy-trial-for-basal-cell-carcinoma",
    "https://cordis.europa.eu/project/id/101059981",
    "https://www.uc.pt/spgi/dpa/projetos-cof-ue/genet",
    "https://cordis.europa.eu/project/id/101059842",
    "https://europeannewsroom.com/new-center-for-gene-and-cell-therapy-technologies-also-with-european-funds",
    "https://join4atmp.eu/",
    "https://cordis.europa.eu/project/id/101137206",
    "https://www.izi.fraunhofer.de/en/press/press-releases/eu-project-promotes-access-to-atmps.html",
    "https://www.euhalliance.eu/2024/02/12/kick-off-of-join4atmp-mapping-and-driving-european-activities-for-advanced-therapy-medicinal-products/",
    "https://www.germanstrias.org/en/news/517/igtp-joins-the-advanced-therapies-network-of-catalonia",
}


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return read_dataset(BUNDLED)


def initiative(dataset: Dataset, ident: str) -> Initiative:
    return next(i for i in dataset.initiatives if i.id == ident)


def test_loads_cleanly_without_warnings(dataset: Dataset) -> None:
    assert dataset.warnings == []
    assert {i.id for i in dataset.initiatives} == {
        "geneh",
        "join4atmp",
        "at-network-catalonia",
        "genet",
        "ctgct",
        "euha",
        "t2evolve",
        "restore",
    }


def test_every_source_is_a_known_public_page(dataset: Dataset) -> None:
    assert {s.url for s in dataset.sources} == ALLOWED_URLS


def test_every_organisation_country_is_inferred_unless_a_source_states_it(dataset: Dataset) -> None:
    # No source states any partner's country: each one must say so.
    for org in dataset.organisations:
        if org.country is not None:
            assert "country" in org.inferred, org.id


def test_geneh_partners_countries_helix_and_coordination(dataset: Dataset) -> None:
    geneh = initiative(dataset, "geneh")
    orgs = {o.id: o for o in dataset.organisations}
    members = [orgs[m.organisation] for m in geneh.members]
    assert len(members) == 13 == geneh.partner_counts[-1].count
    assert Counter(o.country for o in members) == {"PT": 7, "SI": 6}
    assert "biocant" in {o.id for o in members}
    biocant = next(m for m in geneh.members if m.organisation == "biocant")
    assert "ctgct-geneh-role" not in biocant.sources  # the seed leaves Biocant out
    # The seed's grouping: academic 2, government 3, industry/innovation 5 (+ Biocant), civil society 2.
    helix = Counter(o.effective_helix.value for o in members if o.effective_helix)
    assert helix == {"academia": 2, "government": 3, "industry": 6, "civil-society": 2}
    roles = {m.organisation: m.role.value for m in geneh.members}
    assert roles["univ-coimbra"] == "coordinator"
    assert roles["kemijski-institut"] == "co-coordinator"
    coordinator = next(p for p in geneh.people if p.id == "luis-pereira-de-almeida")
    assert coordinator.organisation == "univ-coimbra"


def test_geneh_funding_kick_off_and_relations(dataset: Dataset) -> None:
    geneh = initiative(dataset, "geneh")
    (funding,) = geneh.funding
    assert funding.amount == Decimal("4885375") and funding.qualifier.value == "exact"
    assert str(funding.end) == "2028-12"
    (nearly,) = funding.also_reported
    assert nearly.amount == Decimal("5000000") and nearly.qualifier.value == "approximately"
    (kick_off,) = geneh.milestones
    assert str(kick_off.date) == "2025-03-21"
    assert kick_off.place == "Science Museum of the University of Coimbra"
    assert len(kick_off.speakers) == 4
    assert {(r.kind.value, r.initiative) for r in geneh.relations} == {
        ("grew-out-of", "genet"),
        ("grew-out-of", "ctgct"),
    }


def test_join4atmp(dataset: Dataset) -> None:
    join = initiative(dataset, "join4atmp")
    assert join.ids.cordis == "101137206"
    assert (join.partner_counts[-1].count, join.partner_counts[-1].countries) == (14, 9)
    roles = {m.organisation: m.role.value for m in join.members}
    assert roles["charite"] == "coordinator"
    assert roles["ospedale-san-raffaele"] == "co-coordinator"
    assert roles["bih"] == "supporting"
    assert {"vhio", "fraunhofer-izi", "eurordis", "eurice"} <= set(roles)
    wps = {w.number: w for w in join.workgroups}
    assert sorted(wps, key=lambda n: -1 if n is None else n) == [1, 2, 3, 4]
    assert wps[3].leads == ["vhio"]
    (funding,) = join.funding
    assert (funding.amount, funding.currency, funding.programme) == (
        Decimal(3000000),
        "EUR",
        "Horizon Europe",
    )
    assert "CSA" in (funding.instrument or "")
    assert {"start", "end"} <= set(funding.inferred)  # three years, but no stated dates
    (kick_off,) = join.milestones
    assert (str(kick_off.date), str(kick_off.end_date)) == ("2024-01-25", "2024-01-26")
    assert "Berlin" in (kick_off.place or "")
    assert {r.initiative for r in join.relations} == {"euha", "t2evolve", "restore"}


def test_catalan_network_keeps_its_uncertainty(dataset: Dataset) -> None:
    network = initiative(dataset, "at-network-catalonia")
    assert network.acronym is None  # no source gives one
    coordinators = [m.organisation for m in network.members if m.role.value == "coordinator"]
    assert coordinators == ["biocat"]
    assert len(network.workgroups) == 7
    counts = [(c.count, c.qualifier.value) for c in network.partner_counts]
    assert counts == [(45, "exact"), (50, "more-than")]
    by_kind = {m.kind.value: m for m in network.milestones}
    presentation, launch = by_kind["presentation"], by_kind["launch"]
    assert (presentation.date.year, presentation.date.month, presentation.date.day) == (None, 6, 10)
    assert launch.date.year is None and launch.date.month == 10
    assert launch.date_qualifier.value == "approximately" and "date" in launch.inferred


def test_centres_of_excellence(dataset: Dataset) -> None:
    genet, ctgct = initiative(dataset, "genet"), initiative(dataset, "ctgct")
    assert (genet.ids.cordis, str(genet.start), str(genet.end)) == (
        "101059981",
        "2024-01-01",
        "2029-12-31",
    )
    assert {m.organisation for m in genet.members} == {
        "univ-coimbra",
        "univ-sheffield",
        "univ-eastern-finland",
    }
    assert genet.funding == []  # no source gives GeneT's funding
    assert ctgct.ids.cordis == "101059842"
    assert sum((f.amount or Decimal(0)) for f in ctgct.funding) == Decimal(30_000_000)
    centre = next(o for o in dataset.organisations if o.id == "ctgct-centre")
    assert centre.parent == "kemijski-institut"
