"""Builds the auditor package: a verified copy, the period's journals, sums, signatures, in an AES-256 ZIP.

The inspector's documents are French whatever the process speaks (LISEZMOI.txt, rapport.html, the cover letter),
with an English twin for a reader from elsewhere (README.txt, report.en.html); what is said to the person who runs
the command is in their language."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pyzipper

from pipeline import __version__, interrupt
from pipeline.auditor import letter, recipes
from pipeline.auditor.figures import period_figures
from pipeline.auditor.report import render as render_report
from pipeline.auditor.runs import runs_of_period
from pipeline.config import Config
from pipeline.destinations import open_destination
from pipeline.errors import UsageError
from pipeline.i18n import _, in_language
from pipeline.journals.mapping import load_mapping
from pipeline.state.folder_lock import folder_to_ourselves
from pipeline.journals.lisezmoi import render as render_lisezmoi
from pipeline.journals.secret import chain_secret
from pipeline.journals.run import journals_of_snapshot, tables_wanted
from pipeline.snapshot import journals_of_copy, reader_of
from pipeline.keys import signing
from pipeline.manifest import format as fmt
from pipeline.restore.restore import restore
from pipeline.state.activity_log import ActivityLog
from pipeline.state.scratch import scratch_folder
from pipeline.journals.connection import open_snapshot
from pipeline.progress import NO_PROGRESS, Progress

UNSIGNED = ("SHA256SUMS", "SHA256SUMS.minisig", "SHA256SUMS.sig")
# The inspector's language first: (language, the guide's name, the report's name)
DOCUMENTS = (("fr", "LISEZMOI.txt", "rapport.html"), ("en", "README.txt", "report.en.html"))


@dataclass
class AuditorPackage:
    path: Path
    destination: str
    run_id: str
    records: dict[str, int]
    findings: int
    files: int
    runs: list[dict]  # the runs that checked the period, with what each found

    @property
    def earlier_findings(self) -> int:
        """What the runs found when they were made (the evening of each), whatever the data says today."""
        return sum(r["findings"] for r in self.runs)


def build_package(cfg: Config, identities: list, period: tuple[str, str], out_zip: Path, password: str,
                  run_id: str | None = None, specs: list[str] | None = None, say=lambda m: None,
                  progress: Progress = NO_PROGRESS, published=lambda: None) -> AuditorPackage:
    """The package and its letters; `published()` is called as soon as they are (a generated password is shown
    then, before anything else can fail or be stopped)."""
    out_zip = Path(out_zip).absolute()
    letters = letter_paths(out_zip)
    if not out_zip.parent.is_dir():
        raise UsageError(_("The folder {path} does not exist.").format(path=out_zip.parent))
    # Two at once into a folder would take each other's partial files, and the zip published could open only with
    # the other's password.
    with folder_to_ourselves(out_zip.parent, _("Another Coffre command is writing into {path}; wait for it to end, or "
                                               "write the package elsewhere.").format(path=out_zip.parent)):
        return _build(cfg, identities, period, out_zip, letters, password, run_id, specs, say, progress, published)


def _build(cfg: Config, identities: list, period: tuple[str, str], out_zip: Path, letters: tuple[Path, Path],
           password: str, run_id: str | None, specs: list[str] | None, say, progress: Progress,
           published) -> AuditorPackage:
    for p in (out_zip, *letters):
        if p.exists() or p.is_symlink():  # a link that leads nowhere too: it would be replaced by the package
            raise UsageError(_("{path} already exists; export-auditor never overwrites a file.").format(path=p))
    secret = signing.load_secret(cfg.signing_secret_key_file)
    partial = out_zip.with_name(out_zip.name + ".coffre-partial")
    halves = [partial] + [p.with_name(p.name + ".coffre-partial") for p in letters]
    ours: list[Path] = []  # the letters this run published
    with scratch_folder("auditor", cfg.store_id, cfg.scratch_dir) as scratch:
        try:
            # restore() deep-verifies as it reads (signature with the pinned key, no file missing or added,
            # every stored byte's BLAKE3, age authentication, plain BLAKE3, row counts, the journals decrypted
            # and held to the facts as the drill holds them) and passes over damaged
            # copies; when none verifies it raises CheckFailed and no package is written. What goes to an
            # inspector also passes SQLite's full integrity check.
            res = restore(cfg, identities, scratch / "run", run_id, specs, say=say, integrity="full", journals="check",
                          progress=progress)
            packing = progress.task(_("Preparing the package for the auditor"), None)
            for warning in res.warnings:
                say(_("Warning: {warning}").format(warning=warning))
            root = scratch / "package" / f"coffre-audit-{cfg.store_id}-{period[0]}_{period[1]}"
            dest = _destination_of(cfg, res)
            runs = runs_of_period(dest, cfg.store_id, cfg.signing_public_key, identities, period, res.run_id)
            snap_facts = res.facts.get("snapshot") or {}
            # A server's dump is loaded into a scratch database on the shop's server for the period's journals.
            with journals_of_copy(scratch / "run" / reader_of(snap_facts).PLAIN_NAME, snap_facts, cfg.source,
                                  scratch, tables_wanted(cfg.journals_mapping, cfg.journals_timezone),
                                  cfg.source_lock_wait, cfg.source_stall_timeout) as database:
                outcome, till = _fill_package(cfg, res, dest, runs, period, database, root, secret, say)
            files = sum(1 for p in root.rglob("*") if p.is_file())
            # The package is encrypted, but a copy of the shop's sales all the same: for its owner's eyes.
            for p in halves:
                p.unlink(missing_ok=True)  # an interrupted export's (the folder is ours): made anew, our mode
                interrupt.half_made(p)
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
            _zip(root, partial, password)
            _write_letters(cfg, period, out_zip.name, partial, till, halves[1:])
            # The letters name the zip and its SHA-256: the letters are published first and the zip last, and
            # letters without their zip are taken back, so that a stop never leaves one without the other (a
            # rerun would refuse the file left). From the zip's publishing to the end of the command a stop waits:
            # the package is whole, and its password (shown by published(), before Coffre's log) makes it of use.
            for half, whole in zip(halves[1:], letters):
                ours.append(whole)
                interrupt.half_made(whole)
                os.replace(half, whole)
            interrupt.hold(firm=True)  # not even a second signal between the zip's renaming and its password
            os.replace(partial, out_zip)
            for whole in letters:
                interrupt.finished(whole)  # a hard exit now leaves the whole package
            packing.done()
            published()
            interrupt.hold()
        finally:
            whole_package = out_zip.exists() and not partial.exists()
            for p in halves:
                p.unlink(missing_ok=True)
                interrupt.finished(p)
            for whole in ours:
                if not whole_package:
                    whole.unlink(missing_ok=True)
                interrupt.finished(whole)
    pkg = AuditorPackage(out_zip, res.destination, res.run_id, outcome.counts, len(outcome.checks.findings), files, runs)
    ActivityLog(cfg.state_dir, cfg.store_id).append("export-auditor", "ok", run_id=res.run_id, period=list(period),
                                                    destination=res.destination, findings=pkg.findings,
                                                    earlier_findings=pkg.earlier_findings)
    return pkg


def letter_paths(out_zip: Path) -> tuple[Path, Path]:
    return (out_zip.with_name(f"{out_zip.stem}-lettre-de-transmission.txt"),
            out_zip.with_name(f"{out_zip.stem}-lettre-de-transmission.html"))


def _write_letters(cfg: Config, period, zip_name: str, zip_path: Path, till: dict, paths: list[Path]) -> None:
    """The cover letters (text, HTML) of the zip at zip_path, which is published as zip_name."""
    till_keys = [{"key_id": k.get("key_id") or "?", "fingerprint": _till_fingerprint(k.get("public_key_b64", ""))}
                 for k in till.get("keys", [])]
    ctx = {"shop": cfg.shop, "store_id": cfg.store_id, "period": period, "timezone": cfg.journals_timezone,
           "zip_name": zip_name, "zip_size": zip_path.stat().st_size, "zip_sha256": _sha256_file(zip_path),
           "public_key": cfg.signing_public_key, "key_fingerprint": signing.fingerprint(cfg.signing_public_key),
           "till_keys": till_keys}
    for path, text in zip(paths, (letter.render_text(ctx), letter.render_html(ctx))):
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)


def _till_fingerprint(b64: str) -> str | None:
    import base64
    import binascii

    try:
        return signing.raw_fingerprint(base64.b64decode(b64, validate=True))
    except (binascii.Error, ValueError):
        return None  # the letter says it is unreadable, in its own language


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _destination_of(cfg: Config, res):
    return next(d for d in (open_destination(s) for s in (cfg.destinations + [res.destination]))
                if d.describe() == res.destination)


def _fill_package(cfg: Config, res, dest, runs: list[dict], period: tuple[str, str], snapshot: Path, root: Path,
                  secret, say):
    """The package's folder: the period's journals, the run's manifest, keys, recipes, verify.py, the report, sums."""
    context = {"store_id": cfg.store_id, "run_id": res.run_id, "from": res.destination, "period": list(period)}
    outcome = journals_of_snapshot(snapshot, root / "journals", cfg.journals_mapping, None, period, context,
                                   cfg.journals_timezone, chain_secret(cfg.chain_secret_file))
    if outcome is None:
        raise UsageError(_("The database does not match the journal mapping {mapping}.").format(
            mapping=repr(cfg.journals_mapping)))
    if outcome.counts.get("tickets", 0) == 0:
        say(_("Note: no ticket in the period {start}..{end}.").format(start=period[0], end=period[1]))
    _add_run_manifest(cfg, res, dest, root / "run")
    (root / "run" / "runs.json").write_text(json.dumps({"period": list(period), "runs": runs}, indent=2,
                                                       ensure_ascii=False) + "\n", encoding="utf-8")
    mapping = load_mapping(cfg.journals_mapping, cfg.journals_timezone)
    conn = open_snapshot(snapshot, cfg.journals_timezone)
    try:
        till = recipes.till_keys(conn, mapping)
        figures = period_figures(conn, mapping, period)
    finally:
        conn.close()
    keys = root / "keys"
    keys.mkdir()
    shutil.copy(cfg.signing_public_key_file, keys / "coffre-signing.pub")
    (keys / "coffre-signing.pem").write_bytes(signing.public_pem(cfg.signing_public_key))
    (keys / "till-keys.json").write_text(json.dumps(till, indent=2) + "\n")
    (root / "recipes.json").write_text(json.dumps(recipes.recipes(mapping), indent=2, ensure_ascii=False) + "\n")
    (root / "verify.py").write_bytes(resources.files("pipeline.auditor").joinpath("verify_script.py").read_bytes())
    (root / "fiscal_rules.py").write_bytes(resources.files("pipeline").joinpath("fiscal_rules.py").read_bytes())
    if mapping.source_chains:  # the till's own recipes, the very code Coffre ran, for verify.py to run again
        (root / "chains").mkdir()
        for part in sorted(resources.files("pipeline.chains").iterdir(), key=lambda p: p.name):
            if part.name.endswith(".py"):
                (root / "chains" / part.name).write_bytes(part.read_bytes())
    # The export's own guide (journals/LISEZMOI.txt) becomes the package's, in both languages, with the package's part
    meta = json.loads((root / "journals" / "export.json").read_text(encoding="utf-8"))
    (root / "journals" / "LISEZMOI.txt").unlink()
    for lang, guide, _report in DOCUMENTS:
        text = render_lisezmoi(mapping, meta, outcome.checks, lang) + package_note(lang, bool(mapping.source_chains))
        (root / guide).write_text(text, encoding="utf-8")
    ctx = {"store_id": cfg.store_id, "period": period, "created_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "version": __version__, "destination": res.destination, "run_id": res.run_id,
           "run_created_at": res.facts.get("snapshot", {}).get("snapshot_started_at", "?"), "shop": cfg.shop,
           "timezone": cfg.journals_timezone, "key_fingerprint": signing.fingerprint(cfg.signing_public_key),
           "jet_codes": mapping.doc.get("jet_codes") or {}}
    for lang, _guide, report in DOCUMENTS:
        (root / report).write_text(render_report(ctx, outcome.checks, figures, res.skipped, runs, lang),
                                   encoding="utf-8")
    _sums_and_signatures(root, secret)
    return outcome, till


def _add_run_manifest(cfg: Config, res, dest, folder: Path) -> None:
    folder.mkdir(parents=True)
    for name in (fmt.MANIFEST_JSON, fmt.MANIFEST_B3, fmt.SIGNATURE):
        with dest.open_read(cfg.store_id, res.run_id, name) as src, open(folder / name, "wb") as out:
            out.write(src.read(1 << 20))


def _sums_and_signatures(root: Path, secret) -> None:
    lines = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in UNSIGNED:
            lines.append(f"{_sha256_file(p)}  {p.relative_to(root).as_posix()}\n")
    sums = "".join(lines).encode()
    (root / "SHA256SUMS").write_bytes(sums)
    sig = secret.sign(sums, prehash=True, untrusted_comment="signature from coffre", trusted_comment="coffre auditor package")
    (root / "SHA256SUMS.minisig").write_bytes(bytes(sig) + b"\n")
    (root / "SHA256SUMS.sig").write_bytes(signing.ed25519_private(secret).sign(sums))


def _zip(root: Path, path: Path, password: str) -> None:
    z = pyzipper.AESZipFile(path, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES)
    try:
        z.setpassword(password.encode("utf-8"))
        z.setencryption(pyzipper.WZ_AES, nbits=256)
        for p in sorted(root.rglob("*")):
            if p.is_file():
                z.write(p, f"{root.name}/{p.relative_to(root).as_posix()}")
        z.close()
    except BaseException as err:
        # A write that failed (the disk full) leaves the archive unclosable: closing it again, here or when it is
        # collected, would only hide the reason under "Can't close the ZIP file". Its file is closed as it is.
        fp, z.fp = z.fp, None
        if fp is not None:
            with contextlib.suppress(OSError):
                fp.close()
        if isinstance(err, OSError) and err.filename is None:
            err.filename = str(path.parent)  # where it did not fit
        raise
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def package_note(lang: str, source_chains: bool = False) -> str:
    """The guide's last part: what the package holds and how to check it with stock tools."""
    head = in_language(lang, "This package (handed over for inspection)")
    chains = [in_language(lang, "  chains/          the recipes that recompute the till's own seals (Odoo, Dolibarr),\n"
                                "                   standard library only, run by verify.py;")] if source_chains else []
    secret = [in_language(lang, "      (a till that seals with a secret, Dolibarr's V2: --secret-file FILE, or the\n"
                                "       COFFRE_CHAIN_SECRET environment variable)")] if source_chains else []
    return "\n".join([
        "",
        head,
        "-" * len(head),
        in_language(lang, "  journals/        the journals of the period (see above), findings.json, export.json;"),
        in_language(lang, "  run/             the manifest of the run the data comes from (manifest.json,\n"
                          "                   MANIFEST.b3 and its minisign signature);"),
        in_language(lang, "  keys/            coffre-signing.pub (minisign) and coffre-signing.pem (OpenSSL): the public\n"
                          "                   key of Coffre for this shop; till-keys.json: the public key or keys of\n"
                          "                   the till, which sign the tickets and the closures;"),
        in_language(lang, "  recipes.json     the recipes of the chains, read by verify.py;"),
        in_language(lang, "  verify.py        a Python program (standard library only) that checks again\n"
                          "                   SHA256SUMS, every signature, the chains, the numbering and the totals:\n"
                          "                   python3 verify.py"),
        in_language(lang, "  fiscal_rules.py  Coffre's fiscal rules, written once: those Coffre applies and\n"
                          "                   verify.py applies (rounding of the lines, fingerprints of the lines and\n"
                          "                   of the payments, payments per means of the closures);"),
        *chains,
        in_language(lang, "  rapport.html     the verification report in French, to open in a web browser;\n"
                          "  report.en.html   the same report in English;"),
        in_language(lang, "  LISEZMOI.txt     this guide in French; README.txt: the same guide in English;"),
        in_language(lang, "  SHA256SUMS       the SHA-256 fingerprint of every file of the package;"),
        in_language(lang, "  SHA256SUMS.minisig, SHA256SUMS.sig: the signature of SHA256SUMS by Coffre."),
        "",
        in_language(lang, "To check the package:"),
        "  sha256sum --check SHA256SUMS",
        in_language(lang, "      (Windows: certutil -hashfile journals\\tickets.csv SHA256, to compare with SHA256SUMS)"),
        "  minisign -V -p keys/coffre-signing.pub -m SHA256SUMS",
        "  openssl pkeyutl -verify -pubin -inkey keys/coffre-signing.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig",
        in_language(lang, "  python3 verify.py                  (checks every signature; --sample N for a quick look)"),
        *secret,
        "",
    ])
