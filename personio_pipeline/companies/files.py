"""One company's files in the data folder, found and deleted when the company is removed.

Where they are (see `defs/shared/io.py`, `defs/ingest/assets.py`, `notify/mail.py`):
- raw extracts: `<data>/<asset key path>/<company>.jsonl`, and `.<company>.jsonl.<uuid>.tmp`
  while one is moved into place;
- model files: `<data>/<asset key path>/<company>.parquet` (`.parquet.tmp` while written), and
  beside the employees the record of what the model was built from, with its check verdicts
  (`<company>.model.json`, `defs/org/unchanged.py`);
- verification reports: `<data>/teammeter/review_report/<company>.html` (`.html.tmp` while
  written), see `report_file`, the key it was built for (`<company>.html.key.json`), and for a
  large company its lists (`<company>.<list>.csv`, `reporting/verification/lists.py`);
- spools: `<data>/spool/personio-raw-<digest of the company id>~….jsonl.part`, a listing in
  progress or left by a killed process (spools from before they carried the digest cannot be
  attributed; every listing deletes spools older than a day);
- mail files: `.eml` files of the file outbox `<data>/outbox` (the embedded default instead of
  SMTP) sent to one of the company's people, or data-team alerts about the company.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.parser import HeaderParser
from email.utils import getaddresses
from pathlib import Path

from personio_pipeline.apideck.extract import SPOOL_SUFFIX, spool_prefix
from personio_pipeline.org import addresses as address_policy
from personio_pipeline.reporting.verification.lists import LISTS as REPORT_LISTS

SPOOL_DIR = "spool"  # as defs/ingest/assets.py
OUTBOX_DIR = "outbox"  # as the Mailer resource's default file outbox
REPORT_DIR = ("teammeter", "review_report")  # as the asset key of the report
ALERT_SUBJECT = "[personio_pipeline] {company}:"  # notify/alerts.py subjects


@dataclass
class CompanyFiles:
    raw_extracts: list[Path] = field(default_factory=list)
    model_files: list[Path] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    spools: list[Path] = field(default_factory=list)
    mail_files: list[Path] = field(default_factory=list)

    def kinds(self) -> dict[str, list[Path]]:
        return {
            "raw_extracts": self.raw_extracts,
            "model_files": self.model_files,
            "reports": self.reports,
            "spools": self.spools,
            "mail_files": self.mail_files,
        }

    def __len__(self) -> int:
        return sum(len(paths) for paths in self.kinds().values())


def report_file(data_dir: Path, company: str) -> Path:
    """Where the company's verification report is kept (the `teammeter/review_report` asset)."""
    return data_dir.joinpath(*REPORT_DIR) / f"{company}.html"


def model_file(data_dir: Path, asset_path: tuple[str, ...], company: str) -> Path:
    """Where the IO manager keeps the company's model table of asset `asset_path` (`defs/shared/io.py`)."""
    return data_dir.joinpath(*asset_path) / f"{company}.parquet"


def find_company_files(data_dir: Path, company: str, addresses: set[str]) -> CompanyFiles:
    """The company's files under `data_dir`; `addresses` are its people's e-mail addresses
    (any case) that identify mail files."""
    found = CompanyFiles()
    if not data_dir.is_dir():
        return found
    stored = {f"{company}.jsonl": found.raw_extracts, f"{company}.parquet": found.model_files,
              f"{company}.parquet.tmp": found.model_files, f"{company}.model.json": found.model_files,
              f"{company}.model.json.tmp": found.model_files, f"{company}.html": found.reports,
              f"{company}.html.tmp": found.reports, f"{company}.html.key.json": found.reports,
              f"{company}.html.key.tmp": found.reports}
    for which in REPORT_LISTS:
        stored[f"{company}.{which}.csv"] = stored[f"{company}.{which}.csv.tmp"] = found.reports
    staging = f".{company}.jsonl."
    for folder, subfolders, names in os.walk(data_dir):
        if Path(folder) == data_dir:
            subfolders[:] = [name for name in subfolders if name not in (SPOOL_DIR, OUTBOX_DIR)]
        for name in names:
            if name in stored:
                stored[name].append(Path(folder) / name)
            elif name.startswith(staging) and name.endswith(".tmp"):
                found.raw_extracts.append(Path(folder) / name)
    spools = data_dir / SPOOL_DIR
    if spools.is_dir():
        found.spools = sorted(p for p in spools.iterdir() if p.name.startswith(spool_prefix(company))
                              and p.name.endswith(SPOOL_SUFFIX))
    outbox = data_dir / OUTBOX_DIR
    if outbox.is_dir():
        wanted = _address_forms(addresses)
        found.mail_files = sorted(p for p in outbox.glob("*.eml") if _mail_of(p, company, wanted))
    return found


def delete_files(files: CompanyFiles) -> dict[str, dict[str, int]]:
    """Delete them; per kind, how many files and bytes were removed (gone already counts 0)."""
    report: dict[str, dict[str, int]] = {}
    for kind, paths in files.kinds().items():
        count = size = 0
        for path in paths:
            try:
                length = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            count, size = count + 1, size + length
        report[kind] = {"files": count, "bytes": size}
    return report


def _address_forms(addresses: set[str]) -> set[str]:
    """Every form in which a stored address can appear in a To header: as stored, and as sent
    (normalised Unicode for a non-ASCII local part, the IDNA domain otherwise)."""
    forms: set[str] = set()
    for address in addresses:
        forms.add(address.casefold())
        sent = address_policy.as_sent(address.strip())
        forms.update({sent.header.casefold(), sent.envelope.casefold()})
    return forms


def _mail_of(path: Path, company: str, addresses: set[str]) -> bool:
    try:
        with path.open("rb") as message_file:
            raw = message_file.read(256 * 1024)
    except OSError:
        return False
    # Headers may be UTF-8 (SMTPUTF8 messages): decode them as text before parsing.
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    headers = HeaderParser(policy=policy.compat32).parsestr(head, headersonly=True)
    recipients = {address.casefold() for _name, address in getaddresses(headers.get_all("To") or [])}
    subject = " ".join(str(make_header(decode_header(headers.get("Subject") or ""))).split())
    return bool(recipients & addresses) or subject.startswith(ALERT_SUBJECT.format(company=company))
