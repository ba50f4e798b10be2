"""A generated CORDIS export of real size, for the import benchmark: seeded, so every run is
the same bundle.

Horizon Europe's `organization.csv` is well over 100,000 rows; this writes one of about that
many (invented organisations, about 8 participations per project), with the files' quirks:
every field quoted, decimal commas in some amounts, line breaks in objectives, `;` inside
titles. About one project in a hundred is an advanced-therapy project.

    python bench/cordis_bundle.py DIR [--rows 100000] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

PROJECT_COLUMNS = [
    "id",
    "acronym",
    "status",
    "title",
    "startDate",
    "endDate",
    "totalCost",
    "ecMaxContribution",
    "legalBasis",
    "topics",
    "ecSignatureDate",
    "frameworkProgramme",
    "masterCall",
    "subCall",
    "fundingScheme",
    "objective",
    "contentUpdateDate",
    "rcn",
    "grantDoi",
]
ORGANISATION_COLUMNS = [
    "projectID",
    "projectAcronym",
    "organisationID",
    "vatNumber",
    "name",
    "shortName",
    "SME",
    "activityType",
    "street",
    "postCode",
    "city",
    "country",
    "nutsCode",
    "geolocation",
    "organizationURL",
    "contactForm",
    "contentUpdateDate",
    "rcn",
    "order",
    "role",
    "ecContribution",
    "netEcContribution",
    "totalCost",
    "endOfParticipation",
]
COUNTRIES = ("DE", "FR", "ES", "IT", "NL", "BE", "PT", "SI", "EL", "UK", "AT", "SE", "PL", "IE")
ACTIVITIES = ("HES", "REC", "PRC", "PUB", "OTH", "PRC;PRC")
WORDS = [
    "adaptive",
    "materials",
    "sensing",
    "networks",
    "climate",
    "soil",
    "water",
    "energy",
    "storage",
    "quantum",
    "photonics",
    "governance",
    "cities",
    "mobility",
    "heritage",
    "ocean",
    "microbiome",
    "protein",
    "imaging",
    "learning",
    "robotics",
]
ATMP_TITLES = (
    "Gene therapy for an invented rare disease",
    "Scaling CAR-T manufacturing in invented hospitals",
    "Tissue engineering of invented cartilage",
    "Viral vector production for invented trials",
)


def _quoted(values: list[str]) -> str:
    return ";".join('"' + value.replace('"', '""') + '"' for value in values) + "\n"


def _money(rng: random.Random, low: int, high: int) -> str:
    value = f"{rng.randint(low, high)}.{rng.randint(0, 99):02d}"
    return value.replace(".", ",") if rng.random() < 0.3 else value


def write(target: Path, *, rows: int = 100_000, seed: int = 7) -> dict[str, int]:
    """Write project.csv, organization.csv and topics.csv under target; what was written."""
    rng = random.Random(seed)
    target.mkdir(parents=True, exist_ok=True)
    projects = rows // 8
    organisations = max(rows // 3, 1)
    names = [
        " ".join(rng.choice(WORDS).upper() for _ in range(3)) + f" INSTITUTE {n}"
        for n in range(organisations)
    ]
    atmp = 0
    with (
        (target / "project.csv").open("w", encoding="utf-8") as project_file,
        (target / "organization.csv").open("w", encoding="utf-8") as organisation_file,
        (target / "topics.csv").open("w", encoding="utf-8") as topic_file,
    ):
        project_file.write(_quoted(list(PROJECT_COLUMNS)))
        organisation_file.write(_quoted(list(ORGANISATION_COLUMNS)))
        topic_file.write(_quoted(["projectID", "topic", "title"]))
        written = 0
        for n in range(projects):
            pid = str(101_000_000 + n)
            acronym = f"P{n:05d}"
            therapy = rng.random() < 0.01
            atmp += therapy
            title = rng.choice(ATMP_TITLES) if therapy else " ".join(rng.sample(WORDS, 6))
            topic = f"HORIZON-CL{rng.randint(1, 6)}-2023-{rng.randint(1, 9):02d}-{rng.randint(1, 9):02d}"
            start = f"{rng.randint(2021, 2025)}-{rng.randint(1, 12):02d}-01"
            objective = (
                " ".join(rng.choice(WORDS) for _ in range(60))
                + ";\n"
                + " ".join(rng.choice(WORDS) for _ in range(40))
            )
            project_file.write(
                _quoted(
                    [
                        pid,
                        acronym,
                        rng.choice(("SIGNED", "CLOSED", "TERMINATED")),
                        title + "; an invented project",
                        start,
                        f"{int(start[:4]) + 3}{start[4:]}",
                        _money(rng, 500_000, 9_000_000),
                        _money(rng, 400_000, 8_000_000),
                        "HORIZON.2.1",
                        topic,
                        start,
                        "HORIZON",
                        topic[:-3],
                        topic[:-3],
                        "HORIZON-RIA",
                        objective,
                        f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 10:00:00",
                        str(n),
                        f"10.3030/{pid}",
                    ]
                )
            )
            topic_file.write(_quoted([pid, topic, "An invented topic; with a semicolon"]))
            members = 8 if n < projects - 1 else rows - written
            for order in range(1, members + 1):
                org = rng.randrange(organisations)
                ec = _money(rng, 10_000, 900_000)
                organisation_file.write(
                    _quoted(
                        [
                            pid,
                            acronym,
                            str(900_000_000 + org),
                            "",
                            names[org],
                            f"I{org}",
                            rng.choice(("true", "false", "")),
                            rng.choice(ACTIVITIES),
                            "Invented street 1",
                            "1000",
                            "INVENTED CITY",
                            rng.choice(COUNTRIES),
                            "",
                            "46.05,14.50",
                            "",
                            "",
                            "2024-05-14 10:22:11",
                            str(written),
                            str(order),
                            "coordinator" if order == 1 else "participant",
                            ec,
                            ec,
                            ec,
                            "false",
                        ]
                    )
                )
                written += 1
    return {"projects": projects, "organisation rows": written, "atmp projects": atmp}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    counts = write(args.target, rows=args.rows, seed=args.seed)
    print(", ".join(f"{n} {what}" for what, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
