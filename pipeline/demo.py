"""The demo: builds a sample shop and walks the daily job through the same stages a real store uses."""

from __future__ import annotations

from pathlib import Path

from pipeline import config
from pipeline.archive import run_archive
from pipeline.errors import CHECK_FAILED, OK
from pipeline.i18n import _
from pipeline.progress import NO_PROGRESS, RECORDS, Progress
from pipeline.initialise import init_store
from pipeline.keys.age_identity import load_identities
from pipeline.restore.drill import drill
from pipeline.sample import generate
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
    say(f"1. Sample shop: {days} days of trading, 2 registers -> {db}")
    building = progress.task(_("Building the sample shop"), days * 400, RECORDS)
    counts = generate(str(db), days=days, tickets_per_day=400, seed=1, task=building)
    building.done()
    say("   " + ", ".join(f"{n} {t}" for t, n in counts.items()))

    usb, disk = root / "usb-key", root / "external-disk"
    usb.mkdir()
    disk.mkdir()
    identity = root / "KEEP-OFF-THIS-MACHINE" / "identity.txt"
    say(f"2. coffre init: config, signing key, age identity -> {identity}")
    cfg, recipient = init_store(root / "etc" / "coffre.toml", f"sqlite:{db}", [str(usb), str(disk)], identity, "demo-shop")
    cfg = config.load(cfg.path)

    say(f"3. coffre archive to {usb} and {disk}")
    say("   (the demo keeps its two 'disks' on this machine's own disk; a real run refuses that unless --allow-same-disk)")
    result = run_archive(cfg, cfg.destinations, allow_same_disk=True, say=lambda m: None, progress=progress)
    for c in result.copies:
        say(f"   {'written, read back and checked' if c.ok else 'FAILED: ' + c.reason}: {c.destination}")
    if result.journals:
        j = result.journals
        say(f"   fiscal journals: {sum(j['records'].values())} records exported (CSV + JSON, LISEZMOI in French), "
            f"{j['checks']['signatures_verified']} signatures and every total checked: "
            f"{len(result.findings)} finding(s)")
    run_dir = usb / cfg.store_id / result.run_id

    say("4. coffre verify: signature with the pinned key, BLAKE3 of every file, the chain of runs")
    reports = verify_destinations(cfg, cfg.destinations, progress=progress).reports
    for r in reports:
        say(f"   {r.destination}: {'intact' if r.ok else 'DAMAGED'}")
        for p in r.problems:
            say(f"     - {p.sentence()}")
    say("5. coffre drill: restore every copy into a scratch folder, compare with what was recorded at archive time")
    identities = load_identities(identity)
    report = drill(cfg, identities, cfg.destinations, progress=progress)
    for o in report.outcomes:
        say(f"   {o.destination}: " + (f"restored in {o.seconds:.2f} s, {o.tables} tables and {o.rows} rows as recorded"
                                      if o.ok else f"FAILED: {o.problem}"))
    ok = result.exit_code == OK and all(r.ok for r in reports) and report.ok

    say("")
    say(f"Done in {result.seconds:.1f} s. Look at {run_dir}: RESTORE.txt explains it. Check it with stock tools:")
    say(f"   cd {run_dir}")
    say("   b3sum --check MANIFEST.b3")
    say(f"   minisign -V -p {cfg.signing_public_key_file} -m MANIFEST.b3")
    say(f"   age -d -i {identity} snapshot.sqlite.zst.age | zstd -d > /tmp/snapshot.sqlite")
    say(f"Then: coffre status --config {cfg.path}")
    say(f"Config: {cfg.path}")
    return OK if ok else CHECK_FAILED
