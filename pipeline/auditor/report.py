"""rapport.html: the French report for the inspector: who, which copy and run, what was checked and found (in French),
the Z list with its grand totals, VAT per rate and day, payment means, refunds and the like, the JET's codes."""

from __future__ import annotations

from html import escape

from pipeline import shop as shop_identity
from pipeline.fiscal_rules import CHECKS
from pipeline.journals.findings import CheckResult

CSS = """body{font-family:sans-serif;max-width:72em;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:.2em .5em;text-align:right;white-space:nowrap}td.wrap{white-space:normal}
th{background:#eee}td.l,th.l{text-align:left}.ok{color:#060}.ko{color:#a00;font-weight:bold}
.missing{color:#a60;font-style:italic}code{background:#f4f4f4}
@media print{body{max-width:none;margin:1cm}h2{page-break-after:avoid}}"""

# What each check found, said to an inspector (the records are named beside it): the catalogue's words.
CHECKS_FR = {check: fr for check, (_, fr) in CHECKS.items()}
JOURNALS_FR = {"tickets": "tickets", "ticket_lines": "lignes", "payments": "règlements", "closures": "clôtures",
               "jet": "JET", "duplicates": "duplicata", "till_keys": "clés de la caisse"}
RECORD_FR = {"register": "caisse", "number": "numéro", "kind": "type", "period_start": "début", "seq": "séquence",
             "ticket_number": "ticket", "line_no": "ligne", "numbers": "numéros", "last_seen": "dernier numéro vu",
             "ticket_source_id": "ticket (id)", "key_id": "clé", "public_key": "clé publique"}
KINDS_FR = {"daily": "Z jour", "monthly": "mois", "yearly": "année"}
TYPES_FR = {"sale": "ventes", "refund": "remboursements", "cancellation": "annulations", "training": "formation"}


def euros(cents: int | None) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}{whole:,}".replace(",", "\u202f") + f",{part:02d}\u00a0€"


def rate(bp: int) -> str:
    return f"{bp / 100:g}".replace(".", ",") + "\u00a0%"


def record_fr(journal: str, record: dict) -> str:
    rec = ", ".join(f"{RECORD_FR.get(k, k)} {KINDS_FR.get(v, v) if k == 'kind' else v}" for k, v in record.items())
    return f"{JOURNALS_FR.get(journal, journal)} [{rec}]"


def finding_fr(f) -> str:
    return f"{record_fr(f.journal, f.record)} : {CHECKS_FR.get(f.check, f.check)} ({f.journal}/{f.check})"


def verdict(now: int, earlier: int) -> str:
    said = []
    if now:
        said.append(f"{now} constat(s) sur les données remises (section 4 et findings.json)")
    if earlier:
        said.append(f"{earlier} constat(s) relevé(s) par les sauvegardes de la période le soir où chacune a été faite "
                    "(section 5)")
    return " ; ".join(said) + "."


def _run_finding(key: str, n) -> str:
    journal, _, check = key.partition("/")
    return f"{escape(JOURNALS_FR.get(journal, journal))} : {escape(CHECKS_FR.get(check, check))} ({n})"


def runs_rows(runs: list[dict]) -> str:
    rows = []
    for r in runs:
        if not r["authentic"]:
            detail, n = escape(r.get("problem") or "illisible"), "?"
        else:
            detail = "<br>".join(_run_finding(k, v) for k, v in sorted(r["by_check"].items())) or "aucun"
            named = [f for f in r.get("named") or [] if isinstance(f.get("record"), dict)][:10]
            if named:
                detail += "<br><small>" + "<br>".join(escape(record_fr(f.get("journal"), f["record"])) for f in named) + "</small>"
            n = str(r["findings"])
        checked = {"all records": "tout", "new records only": "nouveaux enregistrements"}.get(r.get("checked"), "—")
        cls = " class=ko" if r["findings"] or not r["authentic"] else ""
        rows.append(f"<tr{cls}><td class=l>{escape(r['run_id'])}</td><td class=l>{checked}</td><td>{n}</td>"
                    f"<td class='l wrap'>{detail}</td></tr>")
    return "".join(rows) or "<tr><td class=l colspan=4>Aucune sauvegarde dans la période.</td></tr>"


def _identity(ctx: dict) -> str:
    rows = []
    for label, value in shop_identity.lines(ctx.get("shop") or {}):
        cell = (f"<span class=missing>{escape(value)}</span>" if value == shop_identity.MISSING else escape(value))
        rows.append(f"<tr><th class=l>{escape(label)}</th><td class=l>{cell}</td></tr>")
    return "".join(rows)


def _z_rows(fig: dict) -> str:
    out = []
    for z in fig["z"]:
        per = "".join(f"<td>{euros(ht)}</td><td>{euros(tva)}</td>" for _, ht, tva in z["per_rate"])
        period = z["start"] if z["start"] == z["end"] else f"{z['start']} → {z['end']}"
        out.append(f"<tr><td class=l>{escape(period)}</td><td class=l>{escape(str(z['register']))}</td>"
                   f"<td class=l>{KINDS_FR.get(z['kind'], escape(str(z['kind'])))} n° {z['number']}</td>"
                   f"<td>{z['tickets']}</td>{per}<td>{euros(z['ht'])}</td><td>{euros(z['tva'])}</td>"
                   f"<td>{euros(z['ttc'])}</td><td>{euros(z['gt_ht'])}</td><td>{euros(z['gt_ttc'])}</td></tr>")
    return "".join(out) or "<tr><td class=l colspan=20>Aucune clôture dans la période.</td></tr>"


def _means_rows(fig: dict) -> str:
    days: dict[str, dict[str, int]] = {}
    for m in fig["means"]:
        days.setdefault(m["day"], {})[m["means"]] = m["amount"]
    names = sorted({m["means"] for m in fig["means"]})
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    body = "".join(f"<tr><td class=l>{escape(d)}</td>" + "".join(f"<td>{euros(v.get(n, 0))}</td>" for n in names)
                   + f"<td>{euros(sum(v.values()))}</td></tr>" for d, v in sorted(days.items()))
    return f"<tr><th class=l>Journée</th>{head}<th>Total</th></tr>{body}"


def render(ctx: dict, checks: CheckResult, figures: dict, skipped: list[str], runs: list[dict]) -> str:
    s = checks.summary()
    earlier = sum(r["findings"] for r in runs)  # each run's own, signed the evening it was made
    ok = not checks.findings and not earlier
    rates_head = "".join(f"<th>HT {rate(bp)}</th><th>TVA {rate(bp)}</th>" for bp in figures["rates"])
    records = "".join(f"<tr><td class=l>{escape(JOURNALS_FR.get(k, k))}</td><td>{v}</td></tr>"
                      for k, v in s["records"].items())
    findings = "".join(f"<li>{escape(finding_fr(f))}</li>" for f in checks.findings[:500]) \
        or "<li class=ok>Aucun constat sur les données remises.</li>"
    passed = "".join(f"<li>{escape(x)}</li>" for x in skipped) or "<li>Aucune : la première copie lue était intacte.</li>"
    kinds = "".join(f"<tr><td class=l>{escape(TYPES_FR.get(k['type'], k['type']))}</td><td>{k['count']}</td>"
                    f"<td>{euros(k['ttc'])}</td></tr>" for k in figures["kinds"])
    jet_names = ctx.get("jet_codes") or {}
    jet = "".join(f"<tr><td>{j['code']}</td><td class=l>{escape(jet_names.get(str(j['code']), j['label'] or ''))}</td>"
                  f"<td>{j['count']}</td></tr>" for j in figures["jet_codes"])
    name = (ctx.get("shop") or {}).get("name") or ctx["store_id"]
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Rapport de vérification — {escape(name)}</title>
<style>{CSS}</style></head><body>
<h1>Rapport de vérification des données de caisse</h1>
<p>Magasin <b>{escape(name)}</b> (identifiant Coffre <code>{escape(ctx['store_id'])}</code>), période du
<b>{escape(ctx['period'][0])}</b> au <b>{escape(ctx['period'][1])}</b>, journées commerciales à l'heure de
<b>{escape(ctx.get('timezone') or 'Europe/Paris')}</b>. Paquet préparé le {escape(ctx['created_at'])} par Coffre
{escape(ctx['version'])}.</p>

<h2>1. Qui : le magasin et sa caisse</h2>
<table>{_identity(ctx)}</table>
<p>La clé publique de Coffre qui signe ce paquet (<code>keys/coffre-signing.pub</code>) a pour empreinte
<code>{escape(ctx.get('key_fingerprint', '?'))}</code>. Ne vous fiez pas à la clé trouvée dans le paquet : comparez
cette empreinte à celle de la <b>lettre de transmission</b> remise à part avec le mot de passe.</p>

<h2>2. Origine des données</h2>
<ul>
<li>Copie lue : <b>{escape(ctx['destination'])}</b>, sauvegarde <b>{escape(ctx['run_id'])}</b> du {escape(ctx['run_created_at'])}.</li>
<li>Avant d'être utilisée, cette copie a été vérifiée entièrement : signature de MANIFEST.b3 avec la clé publique
enregistrée dans la configuration, empreinte BLAKE3 de chaque fichier, aucun fichier manquant ni ajouté, déchiffrement
et décompression complets, empreinte de la base restaurée identique à celle relevée à la sauvegarde, contrôle
d'intégrité SQLite, nombre de lignes de chaque table identique.</li>
<li>Copies écartées : <ul>{passed}</ul></li>
<li>Le manifeste de cette sauvegarde est joint (<code>run/manifest.json</code>, <code>run/MANIFEST.b3</code> et sa signature).</li>
</ul>

<h2>3. Contrôles des journaux</h2>
<p class="{'ok' if ok else 'ko'}">{'Tous les contrôles sont satisfaits, aujourd’hui comme à chaque sauvegarde de la période.' if ok else verdict(s['findings'], earlier)}</p>
<p>Signatures vérifiées : {s['signatures_verified']} (Ed25519, clés publiques de la caisse dans <code>keys/till-keys.json</code>) ;
chaque signature de ticket couvre aussi l'empreinte de ses lignes et de ses règlements, l'opérateur et, pour un
remboursement, la vente d'origine. Contrôlés : chaînes et numérotation de chaque journal ; chaque ticket contre sa
ventilation par taux, ses lignes (quantité × prix − remise) et ses règlements ; lignes et règlements sans ticket ;
chaque clôture contre les tickets et les lignes de sa journée, les clôtures mensuelles et annuelles, les grands totaux
perpétuels ; l'événement du JET de chaque clôture et de chaque duplicata. Le détail et la façon de refaire chaque
contrôle sont dans LISEZMOI.txt.</p>
<table><tr><th class=l>Journal</th><th>Enregistrements</th></tr>{records}</table>

<h2>4. Constats sur les données remises</h2>
<ul>{findings}</ul>

<h2>5. Les sauvegardes de la période et ce que chacune a constaté</h2>
<p>Chaque soir, la sauvegarde revérifie les journaux et signe ses constats avec elle. Un constat d’un soir
(un enregistrement supprimé en fin de chaîne, une chaîne re-signée) reste donc visible ici même si les données
ont changé depuis. Détail : <code>run/runs.json</code>.</p>
<table><tr><th class=l>Sauvegarde</th><th class=l>Contrôle</th><th>Constats</th><th class=l>Détail</th></tr>{runs_rows(runs)}</table>

<h2>6. Clôtures (Z) : montants par taux de TVA et grands totaux</h2>
<table><tr><th class=l>Journée ou période</th><th class=l>Caisse</th><th class=l>Clôture</th><th>Tickets</th>{rates_head}
<th>Total HT</th><th>TVA</th><th>Total TTC</th><th>Grand total perpétuel HT</th><th>Grand total perpétuel TTC</th></tr>
{_z_rows(figures)}</table>

<h2>7. Moyens de paiement par journée</h2>
<table>{_means_rows(figures)}</table>

<h2>8. Ventes, remboursements, annulations, formation, duplicata</h2>
<table><tr><th class=l>Tickets</th><th>Nombre</th><th>Total TTC</th></tr>{kinds}
<tr><td class=l>duplicata imprimés</td><td>{figures['duplicates']}</td><td></td></tr></table>

<h2>9. Journal des événements techniques (JET) : codes de la période</h2>
<table><tr><th>Code</th><th class=l>Événement</th><th>Nombre</th></tr>{jet}</table>

<h2>10. Refaire ces vérifications</h2>
<ol>
<li>Intégrité du paquet : <code>sha256sum --check SHA256SUMS</code> (sous Windows : <code>certutil -hashfile FICHIER SHA256</code>).</li>
<li>Authenticité, avec la clé de la lettre de transmission (et non celle du paquet) :
<code>minisign -V -P CLÉ_DE_LA_LETTRE -m SHA256SUMS</code>, ou
<code>openssl pkeyutl -verify -pubin -inkey keys/coffre-signing.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig</code>
après avoir comparé l'empreinte de <code>keys/coffre-signing.pem</code> à celle de la lettre.</li>
<li>Chaînes, signatures, numérotation et totaux recalculés depuis les CSV : <code>python3 verify.py</code>
(bibliothèque standard de Python seulement ; plus rapide si le module « cryptography » est installé).</li>
</ol>
</body></html>
"""
