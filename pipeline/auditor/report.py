"""rapport.html: the French, human report of what was verified, which copy and run, totals and findings."""

from __future__ import annotations

from html import escape

from pipeline.journals.checks import CheckResult

CSS = """body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:.25em .6em;text-align:right}
th{background:#eee}td.l,th.l{text-align:left}.ok{color:#060}.ko{color:#a00;font-weight:bold}"""


def euros(cents: int | None) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}{whole:,}".replace(",", "\u202f") + f",{part:02d}\u00a0€"


def verdict(now: int, earlier: int) -> str:
    said = []
    if now:
        said.append(f"{now} constat(s) sur les données remises (voir ci-dessous et findings.json)")
    if earlier:
        said.append(f"{earlier} constat(s) relevé(s) par les sauvegardes de la période le soir où chacune a été faite "
                    "(section 5)")
    return " ; ".join(said) + "."


def runs_rows(runs: list[dict]) -> str:
    rows = []
    for r in runs:
        if not r["authentic"]:
            detail, n = escape(r.get("problem") or "illisible"), "?"
        else:
            detail = ", ".join(f"{escape(k)} : {v}" for k, v in sorted(r["by_check"].items())) or "aucun"
            n = str(r["findings"])
        checked = {"all records": "tout", "new records only": "nouveaux enregistrements"}.get(r.get("checked"), "—")
        cls = " class=ko" if r["findings"] or not r["authentic"] else ""
        rows.append(f"<tr{cls}><td class=l>{escape(r['run_id'])}</td><td class=l>{checked}</td><td>{n}</td>"
                    f"<td class=l>{detail}</td></tr>")
    return "".join(rows) or "<tr><td class=l colspan=4>Aucune sauvegarde dans la période.</td></tr>"


def render(ctx: dict, checks: CheckResult, totals: list[dict], skipped: list[str], runs: list[dict]) -> str:
    s = checks.summary()
    earlier = sum(r["findings"] for r in runs)  # each run's own, signed the evening it was made
    ok = not checks.findings and not earlier
    rows = "".join(
        f"<tr><td class=l>{escape(t['register'])}</td><td class=l>{escape(t['month'])}</td><td>{t['closures']}</td>"
        f"<td>{t['tickets']}</td><td>{euros(t['ht'])}</td><td>{euros(t['tva'])}</td><td>{euros(t['ttc'])}</td>"
        f"<td>{euros(t['perpetual_ttc'])}</td></tr>" for t in totals)
    records = "".join(f"<tr><td class=l>{escape(k)}</td><td>{v}</td></tr>" for k, v in s["records"].items())
    findings = "".join(f"<li>{escape(f.sentence())}</li>" for f in checks.findings[:500]) or "<li class=ok>Aucun constat.</li>"
    passed = "".join(f"<li>{escape(x)}</li>" for x in skipped) or "<li>Aucune : la première copie lue était intacte.</li>"
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Rapport de vérification — {escape(ctx['store_id'])}</title>
<style>{CSS}</style></head><body>
<h1>Rapport de vérification des journaux de caisse</h1>
<p>Magasin <b>{escape(ctx['store_id'])}</b>, période du <b>{escape(ctx['period'][0])}</b> au <b>{escape(ctx['period'][1])}</b>.
Paquet préparé le {escape(ctx['created_at'])} par Coffre {escape(ctx['version'])}.</p>

<h2>1. Origine des données</h2>
<ul>
<li>Copie lue : <b>{escape(ctx['destination'])}</b>, sauvegarde <b>{escape(ctx['run_id'])}</b> du {escape(ctx['run_created_at'])}.</li>
<li>Avant d'être utilisée, cette copie a été vérifiée entièrement : signature de MANIFEST.b3 avec la clé publique
enregistrée dans la configuration (<code>keys/coffre-signing.pub</code>), empreinte BLAKE3 de chaque fichier, aucun fichier
manquant ni ajouté, déchiffrement et décompression complets, empreinte de la base restaurée identique à celle relevée
à la sauvegarde, contrôle d'intégrité SQLite, nombre de lignes de chaque table identique.</li>
<li>Copies écartées : <ul>{passed}</ul></li>
<li>Le manifeste de cette sauvegarde est joint (<code>run/manifest.json</code>, <code>run/MANIFEST.b3</code> et sa signature).</li>
</ul>

<h2>2. Contrôles des journaux</h2>
<p class="{'ok' if ok else 'ko'}">{'Tous les contrôles sont satisfaits, aujourd’hui comme à chaque sauvegarde de la période.' if ok else verdict(s['findings'], earlier)}</p>
<p>Signatures vérifiées : {s['signatures_verified']} (Ed25519, clé publique de la caisse dans <code>keys/till-keys.json</code>).
Chaînes, numérotation, tickets = lignes = règlements, clôtures = tickets et lignes du jour, clôtures mensuelles et annuelles,
grands totaux perpétuels : voir LISEZMOI.txt pour le détail de chaque contrôle et la façon de le refaire.</p>
<table><tr><th class=l>Journal</th><th>Enregistrements</th></tr>{records}</table>

<h2>3. Totaux de la période, par caisse et par mois (clôtures journalières)</h2>
<table><tr><th class=l>Caisse</th><th class=l>Mois</th><th>Clôtures</th><th>Tickets</th><th>Total HT</th><th>TVA</th>
<th>Total TTC</th><th>Grand total perpétuel TTC en fin de mois</th></tr>{rows}</table>

<h2>4. Constats</h2>
<ul>{findings}</ul>

<h2>5. Les sauvegardes de la période et ce que chacune a constaté</h2>
<p>Chaque soir, la sauvegarde revérifie les journaux et signe ses constats avec elle. Un constat d’un soir
(un enregistrement supprimé en fin de chaîne, une chaîne re-signée) reste donc visible ici même si les données
ont changé depuis. Détail : <code>run/runs.json</code>.</p>
<table><tr><th class=l>Sauvegarde</th><th class=l>Contrôle</th><th>Constats</th><th class=l>Détail</th></tr>{runs_rows(runs)}</table>

<h2>6. Refaire ces vérifications</h2>
<ol>
<li>Intégrité du paquet : <code>sha256sum --check SHA256SUMS</code> (sous Windows : <code>certutil -hashfile FICHIER SHA256</code>).</li>
<li>Authenticité : <code>minisign -V -p keys/coffre-signing.pub -m SHA256SUMS</code>, ou
<code>openssl pkeyutl -verify -pubin -inkey keys/coffre-signing.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig</code>.</li>
<li>Chaînes et totaux recalculés depuis les CSV : <code>python3 verify.py</code> (bibliothèque standard de Python seulement).</li>
</ol>
</body></html>
"""
