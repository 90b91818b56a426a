"""The demo: builds a sample shop and walks the daily job through the same stages a real store uses."""

from __future__ import annotations

from pathlib import Path

from pipeline import config
from pipeline.archive import run_archive
from pipeline.errors import CHECK_FAILED, OK
from pipeline.i18n import _, ngettext
from pipeline.units import number
from pipeline.progress import NO_PROGRESS, RECORDS, Progress
from pipeline.initialise import init_store
from pipeline.keys.age_identity import load_identities
from pipeline.restore.drill import drill
from pipeline.sample import describe_counts, generate
from pipeline.verify.run import verify_destinations


def _fresh_folder(base: Path) -> Path:
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def run_demo(folder: Path | None, days: int, say, progress: Progress = NO_PROGRESS) -> int:
    root = (folder or _fresh_folder(Path("coffre-demo"))).absolute()
    if root.exists() and any(root.iterdir()):
        root = _fresh_folder(root)
    root.mkdir(parents=True, exist_ok=True)
    db = root / "shop" / "caisse.db"
    db.parent.mkdir()
    say(ngettext("1. Sample shop: {days} day of trading, 2 registers -> {database}",
                 "1. Sample shop: {days} days of trading, 2 registers -> {database}", days).format(days=days, database=db))
    building = progress.task(_("Building the sample shop"), days * 400, RECORDS)
    counts = generate(str(db), days=days, tickets_per_day=400, seed=1, task=building)
    building.done()
    say("   " + describe_counts(counts))

    usb, disk = root / "usb-key", root / "external-disk"
    usb.mkdir()
    disk.mkdir()
    identity = root / "KEEP-OFF-THIS-MACHINE" / "identity.txt"
    say(_("2. coffre init: config, signing key, age identity -> {identity}").format(identity=identity))
    cfg, recipient = init_store(root / "etc" / "coffre.toml", f"sqlite:{db}", [str(usb), str(disk)], identity, "demo-shop",
                                allow_same_disk=True, i_know=True)  # a rehearsal: everything in one folder
    cfg = config.load(cfg.path)

    say(_("3. coffre archive to {usb} and {disk}").format(usb=usb, disk=disk))
    say("   " + _("(the demo keeps its two 'disks' on this machine's own disk; a real run refuses that unless "
                  "--allow-same-disk)"))
    result = run_archive(cfg, cfg.destinations, allow_same_disk=True, say=lambda m: None, progress=progress)
    for c in result.copies:
        if c.ok:
            say("   " + _("written, read back and checked: {destination}").format(destination=c.destination))
        else:
            say("   " + _("FAILED: {reason}: {destination}").format(reason=c.reason, destination=c.destination))
    if result.journals:
        j = result.journals
        say("   " + ngettext("fiscal journals: {records} records exported (CSV + JSON, LISEZMOI in French), "
                         "{signatures} signatures and every total checked: {findings} finding",
                         "fiscal journals: {records} records exported (CSV + JSON, LISEZMOI in French), "
                         "{signatures} signatures and every total checked: {findings} findings",
                         len(result.findings)).format(records=number(sum(j["records"].values())),
                                                      signatures=number(j["checks"]["signatures_verified"]),
                                                      findings=len(result.findings)))
    run_dir = usb / cfg.store_id / result.run_id

    say(_("4. coffre verify: signature with the pinned key, BLAKE3 of every file, the chain of runs"))
    reports = verify_destinations(cfg, cfg.destinations, progress=progress).reports
    for r in reports:
        if r.ok:
            say("   " + _("{destination}: intact").format(destination=r.destination))
        else:
            say("   " + _("{destination}: DAMAGED").format(destination=r.destination))
        for p in r.problems:
            say(f"     - {p.sentence()}")
    say(_("5. coffre drill: restore every copy into a scratch folder, compare with what was recorded at archive "
          "time"))
    identities = load_identities(identity)
    report = drill(cfg, identities, cfg.destinations, progress=progress)
    for o in report.outcomes:
        if o.ok:
            say("   " + _("{destination}: restored in {seconds} s, {tables} tables and {rows} rows as "
                          "recorded").format(destination=o.destination, seconds=number(o.seconds, 2), tables=o.tables,
                                             rows=number(o.rows)))
        else:
            say("   " + _("{destination}: FAILED: {problem}").format(destination=o.destination, problem=o.problem))
    ok = result.exit_code == OK and all(r.ok for r in reports) and report.ok

    say("")
    say(_("Done in {seconds} s. Look at {run}: RESTORE.txt explains it. Check it with stock tools:").format(
        seconds=number(result.seconds, 1), run=run_dir))
    say(f"   cd {run_dir}")
    say("   b3sum --check MANIFEST.b3")
    say(f"   minisign -V -p {cfg.signing_public_key_file} -m MANIFEST.b3")
    if (run_dir / "snapshot.sqlite.blocks").exists():
        say("   b3sum --check snapshot.sqlite.blocks")
        say("   " + _("(then RESTORE.txt, step 2: age decrypts the blocks one after the other, zstd gives the "
                      "database back)"))
    else:
        say(f"   age -d -i {identity} snapshot.sqlite.zst.age | zstd -d > /tmp/snapshot.sqlite")
    say(_("Then: coffre status --config {config}").format(config=cfg.path))
    say(_("Config: {config}").format(config=cfg.path))
    return OK if ok else CHECK_FAILED
