"""The verification report (`teammeter/report`), on SQLite and PostgreSQL, read back with the
standard library's HTML parser: everyone active exactly once in the people list with the counts
of `review --format json`, why people cannot log in and what to fix, a manager tree with one root
per top manager and nobody twice, merged spellings, Teammeter-side edits, the last sync's changes;
hostile names stay text and the page loads nothing from anywhere."""

from __future__ import annotations

import codecs
import csv
import io
import json
import shutil
import struct
import subprocess
from collections import Counter
from datetime import datetime, timezone
from urllib.parse import unquote, urlsplit

import pytest
import sqlalchemy as sa

from personio_pipeline.reporting.review import format_review, review_summary, review_users
from personio_pipeline.reporting.verification import SUMMARY_FROM, build_report, make_report, write_report
from personio_pipeline.reporting.verification.content import OrgPerson, build_org_chart
from personio_pipeline.reporting.verification.lists import LISTS
from personio_pipeline.reporting.verification.page import CONTENT_SECURITY_POLICY
from personio_pipeline.store import hand_edits
from personio_pipeline.store.schema import invitations, users
from personio_pipeline_tests.support.people import day_one, day_two, org_model, person, sync
from personio_pipeline_tests.support.report_page import ReportPage
from personio_pipeline_tests.support.stores import register

HOSTILE_NAMES = [
    "<img src=x onerror=alert(1)>",
    '"><script>alert(document.domain)</script>',
    "Robert'); DROP TABLE users;-- &amp; <b>bold</b>",
]


def troubled() -> list:
    """Day two of the ACME story plus people the report must explain: hostile names (one of them a
    manager, in a hostile team), two sharing an address, two managing each other, one whose manager
    has left, one whose manager Personio does not export, one with an invalid address."""
    sales = {"unit": "Sales"}
    return day_two() + [
        person("20", name=HOSTILE_NAMES[0], team="<script>x</script>", role="Software Engineer", manager="1",
               unit="Engineering"),
        person("21", name=HOSTILE_NAMES[1], team="<script>x</script>", role="SOFTWARE ENGINEER", manager="20",
               unit="Engineering"),
        person("22", name=HOSTILE_NAMES[2], team="Sales Team", role="Account Manager", manager="6", **sales),
        person("30", name="Sam Shared", team="Sales Team", email="team@acme.test", manager="6", **sales),
        person("31", name="Sue Shared", team="Sales Team", email="team@acme.test", manager="6", **sales),
        person("40", name="Cy Cycle", team="Sales Team", manager="41", **sales),
        person("41", name="Cay Cycle", team="Sales Team", manager="40", **sales),
        person("50", name="Lou Left-Behind", team="Sales Team", manager="8", **sales),  # 8 (Hana) left on day two
        person("51", name="Una Unknown", team="Sales Team", manager="999", **sales),
        person("60", name="Ivan Invalid", team="Sales Team", email=None, manager="6", **sales),
    ]


def model_employees(people):
    """The model's employees as the model layer would leave them: Ivan's address was invalid."""
    employees = org_model(people).employees
    invalid = employees["employee_id"] == "60"
    employees.loc[invalid, "email_problem"] = "invalid: The email address is not valid. It must have exactly one @-sign."
    return employees


@pytest.fixture
def company(engine):
    """ACME synced on day one and on day two (with the troubled people), a hand-made team, a
    Teammeter manager line and an address set in Teammeter, Ada invited."""
    register(engine)
    first = day_one() + [p for p in troubled() if p.employee_id in {"20", "21", "22"}]
    sync(engine, first, "day-1")
    sync(engine, troubled(), "day-2")
    with engine.begin() as conn:
        guild = hand_edits.create_team(conn, "acme", "Guild <Ω>")
        hand_edits.add_member(conn, "acme", guild, "2")
        hand_edits.add_reporting_line(conn, "acme", "2", "6")
        hand_edits.set_email(conn, "acme", "60", "ivan@acme.example")
        ada = conn.execute(sa.select(users.c.id, users.c.organisation_id).where(users.c.employee_id == "1")).one()
        conn.execute(sa.insert(invitations).values(organisation_id=ada.organisation_id, user_id=ada.id,
                                                   email="1@acme.test", status="sent",
                                                   sent_at=datetime(2026, 1, 21, 9, 30, tzinfo=timezone.utc)))
    return engine


def report(engine, with_model=True):
    with engine.connect() as conn:
        content, page = build_report(conn, "acme", model_employees(troubled()) if with_model else None)
        rows = review_users(conn, "acme")
        summary = review_summary(conn, "acme")
    return content, ReportPage(page), page, rows, summary


def test_every_active_person_once_in_the_people_list_with_the_counts_of_review_json(company):
    content, page, raw, rows, summary = report(company)
    reviewed = json.loads(format_review(rows, summary, "json"))
    active = [row for row in reviewed if row["active"]]
    can_log_in = [row[1] for row in page.rows("people", "Name", "Email")]  # one table per invitation status
    blocked = page.table("people", "Name", "What to fix in Personio")
    assert Counter(can_log_in + blocked.column("HR id")) == Counter(row["employee_id"] for row in active)
    assert sorted(can_log_in) == sorted(row["employee_id"] for row in active if row["has_access"])
    counts = {"people": len(active), "with access": sum(r["has_access"] for r in active),
              "without access": sum(not r["has_access"] for r in active)}
    assert counts == {"people": 18, "with access": 13, "without access": 5}
    for label, number in counts.items():
        assert f"<div><b>{number}</b>{label}</div>" in raw
    assert (content.header.people, content.header.with_access, content.header.without_access) == tuple(counts.values())


def test_who_cannot_log_in_says_why_and_what_to_fix_in_personio(company):
    _, page, _, _, _ = report(company)
    blocked = {row[1].strip(): [c.strip() for c in row] for row in page.table("people", "Name", "Reason").rows}
    assert blocked["5"][2:] == ["no email", "Personio has no email address for this person",
                                "Enter a work email address for this person in Personio."]
    assert blocked["30"][2] == blocked["31"][2] == "shared email"
    assert blocked["30"][3] == "address shared with 31" and "own work email" in blocked["30"][4]
    assert blocked["40"][2] == blocked["41"][2] == "quarantined"
    assert blocked["40"][3] == "management cycle 40 → 41 → 40" and "supervisor" in blocked["40"][4]
    assert "60" not in blocked, "an address set in Teammeter gives access"
    (invited,) = page.rows("people", "Name", "Invited on")
    assert invited == ["Ada Admin", "1", "1@acme.test", "Platform", "2026-01-21"]
    waiting = {row[1]: row for row in page.rows("people", "Name", "Email") if len(row) == 4}
    assert "after verification: 12" in page.all_text and len(waiting) == 12
    assert waiting["60"][2] == "ivan@acme.example"


def test_an_invalid_address_is_named_as_such_when_the_model_is_at_hand(company):
    with company.begin() as conn:  # Ivan's Teammeter address removed again: no access
        conn.execute(sa.update(users).where(users.c.employee_id == "60").values(email=None, has_access=False))
    _, page, _, _, _ = report(company)
    blocked = {row[1].strip(): [c.strip() for c in row] for row in page.table("people", "Name", "Reason").rows}
    assert blocked["60"][2:] == ["invalid email", "The email address is not valid. It must have exactly one @-sign.",
                                 "Correct the email address in Personio."]
    _, without_model, _, _, _ = report(company, with_model=False)
    blocked = {row[1].strip(): [c.strip() for c in row] for row in without_model.table("people", "Name", "Reason").rows}
    assert blocked["60"][2] == blocked["5"][2] == "no valid email"
    assert "not at hand" in without_model.all_text, "the page says why merged spellings are missing"


def test_manager_tree_has_one_root_per_top_manager_and_nobody_twice(company):
    _, page, _, rows, _ = report(company)
    active = {row["employee_id"] for row in rows if row["active"]}
    managers = {row["employee_id"]: row["manager_employee_id"].split("; ")[0] for row in rows
                if row["active"] and row["manager_employee_id"]}
    has_reports = {manager for manager in managers.values() if manager in active}
    top = has_reports - set(managers)
    ids = [employee_id for employee_id, _ in page.tree]
    assert len(ids) == len(set(ids)), "nobody twice"
    assert {employee_id for employee_id, depth in page.tree if depth == 1} == top == {"1", "6"}
    on_cycle = {"40", "41"}  # the factory's model keeps their lines; the tree cannot place them
    assert set(ids) == (has_reports | set(managers)) - on_cycle, "everyone else with a manager or a report is in it"
    depth = dict(page.tree)
    assert depth["20"] == 2 and depth["21"] == 3, "the hostile manager's report sits below them"
    outside = {row[1].strip(): row[2].strip() for row in page.table("managers", "Name", "Why").rows}
    assert outside["50"] == "manager Hana Holm has left"
    assert outside["51"] == "manager not in Personio's export (HR id 999)"
    assert outside["40"] == outside["41"] == "on or below a management cycle"


def test_roles_show_the_spellings_merged_into_them(company):
    _, page, _, _, _ = report(company)
    roles = {row[0].strip(): (row[1].strip(), row[2].strip()) for row in page.table("roles", "Role", "People").rows}
    holders, variants = roles["Software Engineer"]
    assert holders == "6" and variants == "Software Engineer (6), SOFTWARE ENGINEER (1), software engineer (1)"
    assert roles["Engineering Manager"][1] == "", "a single spelling is no merge"


def test_teammeter_side_edits_are_marked(company):
    _, page, _, _, _ = report(company)
    edits = [(row[0].strip(), row[1].strip()) for row in page.table("edits", "What", "Added in Teammeter").rows]
    assert edits == [
        ("email address", "Ivan Invalid: ivan@acme.example added in Teammeter"),
        ("manager", "Ben Bauer reports to Finn Fox added in Teammeter"),
        ("team", "Guild <Ω> added in Teammeter"),
        ("team member", "Ben Bauer in Guild <Ω> added in Teammeter"),
    ]
    assert "also reports to Finn Fox" in page.all_text


def test_changes_since_the_previous_sync(company):
    content, page, _, _, _ = report(company)
    changes = content.changes
    hires = dict(changes.hires)
    assert hires["Jo Jung"] == "Mobile" and "Sam Shared" in hires
    assert changes.leavers == ("Hana Holm",)
    assert ("Dan Dahl", "left Mobile; joined Platform") in changes.moves
    assert ("Cleo Cruz", "Ben Bauer") in changes.new_managers
    assert "Hires and returns" in page.all_text and "now reports to Ben Bauer" in page.all_text


def test_the_first_sync_has_no_changes_to_show(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    with engine.connect() as conn:
        content, page = build_report(conn, "acme")
    assert content.changes is None and "Nothing has changed since the first sync" in page


def test_the_changes_shown_are_the_latest_sync_that_changed_something(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    sync(engine, day_two(), "day-2")
    with engine.connect() as conn:
        shown, _ = build_report(conn, "acme")
    sync(engine, day_two(), "day-3")  # nothing changed: the section (and so the page) stays as it was
    with engine.connect() as conn:
        after_noop, _ = build_report(conn, "acme")
    assert shown.changes is not None and not shown.changes.empty
    assert after_noop.changes == shown.changes


def test_hostile_names_are_inert_text(company):
    _, page, raw, _, _ = report(company)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "img", "iframe", "object", "embed", "link", "form", "base"}
    for name in HOSTILE_NAMES:
        assert name in page.all_text
    assert "Guild <Ω>" in page.all_text and "<script>x</script>" in page.all_text
    assert "onerror=" not in raw.replace("onerror=alert(1)&gt;", "")


def test_the_page_references_nothing_external(company):
    _, page, raw, _, _ = report(company)
    (policy,) = [attrs["content"] for tag, attrs in page.tags if attrs.get("http-equiv") == "Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'" and directives["script-src"] == "'none'"
    for tag, attrs in page.tags:
        assert not {"src", "srcset", "action", "formaction", "poster", "data", "background"} & set(attrs), tag
        assert not any(name.startswith("on") for name in attrs), tag
        if "href" in attrs:
            assert attrs["href"].startswith("#"), attrs["href"]
    assert "url(" not in page.style and "@import" not in page.style and "@font-face" not in page.style
    assert "http://" not in raw and "https://" not in raw


def test_manager_tree_never_repeats_anyone_even_with_a_teammeter_cycle():
    people = {i: OrgPerson(i, f"Person {i}") for i in ("1", "2", "3", "4", "5", "6")}
    lines = [("2", "1", False), ("3", "2", False), ("4", "5", True), ("5", "4", True), ("3", "4", True)]
    chart = build_org_chart(people, lines, problems={})
    assert chart.roots == ("1",) and chart.reports == {"1": ("2",), "2": ("3",)}
    assert chart.also == {"3": "Person 4"}
    assert dict(chart.outside) == {"4": "on or below a management cycle", "5": "on or below a management cycle",
                                   "6": "no supervisor set in Personio"}


def test_a_chain_thousands_deep_renders_without_recursion():
    from personio_pipeline.reporting.verification.page import _org_chart

    people = {str(i): OrgPerson(str(i), f"P{i}") for i in range(5000)}
    chart = build_org_chart(people, [(str(i), str(i - 1), False) for i in range(1, 5000)], problems={})
    page = ReportPage("".join(_org_chart(chart)))
    assert [depth for _, depth in page.tree] == list(range(1, 5001))
    assert chart.team_sizes()["0"] == 4999


BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def headless_chromium() -> str:
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; .ci/run tries to): "
                    "the page is checked by parsing only")
    return found


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_chromium_opens_the_page_keeps_hostile_names_as_text_and_takes_a_screenshot(company, tmp_path):
    browser = headless_chromium()
    _, _, raw, _, _ = report(company)
    page, shot = tmp_path / "report.html", tmp_path / "report.png"
    page.write_text(raw, encoding="utf-8")
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
              f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([*common, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1200, 1600)
    assert len(png) > 20_000, "a blank page compresses to a few kB"
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert dom.count("<details") == raw.count("<details") > 10, "the browser built the whole page"
    assert "<img" not in dom and "<script" not in dom
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom


# ---------------------------------------------------------------- a large company: summary page and CSV files


def large_report(engine, tmp_path, summary_from=5, with_model=True):
    """The report as a company above the threshold gets it (the threshold set low, not 100,000
    people made), written as the asset writes it."""
    with engine.connect() as conn:
        made = make_report(conn, "acme", model_employees(troubled()) if with_model else None, stem="acme",
                           summary_from=summary_from)
    write_report(tmp_path / "acme.html", made)
    return made


def read_csv(path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8), "UTF-8 with a byte-order mark, for Excel"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_up_to_the_threshold_the_single_page_above_it_a_summary_with_csv_files(company, tmp_path):
    with company.connect() as conn:
        people = build_report(conn, "acme")[0].header.people
        single = make_report(conn, "acme", summary_from=people)
        summary = make_report(conn, "acme", summary_from=people - 1)
    assert not single.lists and not single.summary and "The full lists" not in single.page
    assert summary.summary and set(summary.lists) == set(LISTS)
    assert single.content.counts() == summary.content.counts(), "the metadata means the same in both"
    assert SUMMARY_FROM == 2_000


def test_the_summary_page_passes_the_single_pages_checks_and_its_links_resolve(company, tmp_path):
    made = large_report(company, tmp_path)
    page = ReportPage(made.page)
    (policy,) = [attrs["content"] for tag, attrs in page.tags if attrs.get("http-equiv") == "Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert not {tag for tag, _ in page.tags} & {"script", "img", "iframe", "object", "embed", "link", "form", "base"}
    linked = set()
    for tag, attrs in page.tags:
        assert not {"src", "srcset", "action", "formaction", "poster", "data", "background"} & set(attrs), tag
        assert not any(name.startswith("on") for name in attrs), tag
        if "href" in attrs:
            href = attrs["href"]
            if href.startswith("#"):
                assert f'id="{href[1:]}"' in made.page, href
                continue
            assert urlsplit(href).scheme == "" and "/" not in href and "download" in attrs, href
            target = tmp_path / unquote(href)
            assert target.is_file(), href
            linked.add(target.name)
    assert linked == {f"acme.{which}.csv" for which in LISTS}
    assert "http://" not in made.page and "https://" not in made.page
    for name in HOSTILE_NAMES:  # the third level of the tree (21) is in the CSV file only
        assert name not in made.page and (name in page.all_text or name == HOSTILE_NAMES[1]), "shown as text"
    assert "onerror=" not in made.page.replace("onerror=alert(1)&gt;", "")
    ids = [employee_id for employee_id, _ in page.tree]
    assert len(ids) == len(set(ids)), "nobody twice in the tree"
    assert {employee_id for employee_id, depth in page.tree if depth == 1} == {"1", "6"}
    assert not list(tmp_path.glob("*.tmp"))


def test_the_summary_groups_who_cannot_log_in_by_reason_and_the_people_csv_has_everyone_once(company, tmp_path):
    made = large_report(company, tmp_path)
    content, page = made.content, ReportPage(made.page)
    blocked = {row[1]: row for row in page.rows("people", "Name", "Reason")}
    assert {p.employee_id: p.reason for p in content.blocked} == {i: row[2] for i, row in blocked.items()}
    assert "shared email: 2" in page.all_text and "quarantined: 2" in page.all_text
    rows = read_csv(tmp_path / "acme.people.csv")
    assert [row["HR id"] for row in rows] == content.people_listed()
    by_id = {row["HR id"]: row for row in rows}
    assert by_id["1"]["Invitation"] == "invited" and by_id["1"]["Invited on"] == "2026-01-21"
    assert by_id["30"]["Can log in"] == "no" and by_id["30"]["Reason"] == "shared email"
    assert by_id["30"]["Details"] == "address shared with 31" and "own work email" in by_id["30"]["What to fix in Personio"]
    assert by_id["2"]["Teams"].split(", ").count("Guild <Ω>") == 1
    managers = {row["HR id"]: row for row in read_csv(tmp_path / "acme.managers.csv")}
    assert managers["21"]["Manager HR id"] == "20" and managers["21"]["Level"] == "3"
    assert managers["50"]["Outside the tree because"] == "manager Hana Holm has left"
    assert managers["2"]["Also reports to"] == "Finn Fox"
    roles = {row["Role"]: row for row in read_csv(tmp_path / "acme.roles.csv")}
    assert roles["Software Engineer"]["Spellings in Personio merged into it (records)"] == (
        "Software Engineer (6), SOFTWARE ENGINEER (1), software engineer (1)")
    teams = {row["Team"]: row for row in read_csv(tmp_path / "acme.teams.csv")}
    assert teams["Guild <Ω>"]["Added in Teammeter"] == "yes"
    assert len(read_csv(tmp_path / "acme.edits.csv")) == len(content.edits) == 4


def test_the_csv_files_are_safe_against_formula_injection(engine, tmp_path):
    hostile = ['=HYPERLINK("http://x")', "Zoë '); DROP TABLE users;-- <b>Łukasz</b>", "+1 Plus", "-Minus", "@At",
               "\tTab"]
    register(engine)
    sync(engine, [person(str(i), name=name, team=name, role="=1+1" if i == 1 else "Engineer",
                         unit="@SUM(A1)" if i == 1 else "Ops", manager="1" if i > 1 else None)
                  for i, name in enumerate(hostile, start=1)], "day-1")
    with engine.connect() as conn:
        made = make_report(conn, "acme", stem="acme", summary_from=1)
    write_report(tmp_path / "acme.html", made)
    for which in LISTS:
        raw = (tmp_path / f"acme.{which}.csv").read_bytes()
        assert raw.startswith(codecs.BOM_UTF8) and b"\r\n" in raw
        for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")):
            for cell in row:
                assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), (which, cell)
    people = {row["HR id"]: row for row in read_csv(tmp_path / "acme.people.csv")}
    assert people["1"]["Name"] == '\'=HYPERLINK("http://x")' and people["1"]["Roles"] == "'=1+1"
    assert people["1"]["Unit"] == "'@SUM(A1)"
    assert people["2"]["Name"] == hostile[1], "no formula: kept exactly, quotes and markup included"
    assert [people[i]["Name"] for i in ("3", "4", "5", "6")] == ["'+1 Plus", "'-Minus", "'@At", "'\tTab"]
    text = ReportPage(made.page).all_text
    assert hostile[0] in text and hostile[1] in text and "<b>Łukasz</b>" not in made.page


def test_a_company_that_shrank_below_the_threshold_loses_its_csv_files(company, tmp_path):
    large_report(company, tmp_path)
    assert len(list(tmp_path.glob("acme.*.csv"))) == len(LISTS)
    (tmp_path / "acme-other.people.csv").write_text("another company's", encoding="utf-8")
    with company.connect() as conn:
        write_report(tmp_path / "acme.html", make_report(conn, "acme"))
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".csv"] == ["acme-other.people.csv"]
    assert "The full lists" not in (tmp_path / "acme.html").read_text(encoding="utf-8")
