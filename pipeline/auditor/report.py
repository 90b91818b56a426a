"""The inspector's report (rapport.html in French, report.en.html its English twin): who, which copy and run, what was
checked and found, the Z list with its grand totals, VAT per rate and day, payment means, refunds and the like, the
JET's codes. Every sentence comes from the catalogue in the document's language, whatever the process speaks."""

from __future__ import annotations

import math
from html import escape

from pipeline.auditor.words import check_meaning, closure_kind, journal_name, record_text, shop_lines, ticket_type
from pipeline.i18n import in_language, translation_for
from pipeline.journals.findings import CheckResult

CSS = """body{font-family:sans-serif;max-width:72em;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:.2em .5em;text-align:right;white-space:nowrap}td.wrap{white-space:normal}
th{background:#eee}td.l,th.l{text-align:left}.ok{color:#060}.ko{color:#a00;font-weight:bold}
.missing{color:#a60;font-style:italic}code{background:#f4f4f4}
@media print{body{max-width:none;margin:1cm}h2{page-break-after:avoid}}"""


def euros(cents: int | None) -> str:
    if cents is None:
        return ""
    if isinstance(cents, float) and not math.isfinite(cents):  # amounts past a real's range, summed
        return str(cents)
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}{whole:,}".replace(",", "\u202f") + f",{part:02d}\u00a0€"


def rate(bp: int) -> str:
    return f"{bp / 100:g}".replace(".", ",") + "\u00a0%"


def finding_text(lang: str, f) -> str:
    return f"{record_text(lang, f.journal, f.record)} : {check_meaning(lang, f.check)} ({f.journal}/{f.check})"


def verdict(lang: str, now: int, earlier: int) -> str:
    words = translation_for(lang)
    said = []
    if now:
        said.append(words.ngettext("{count} finding on the data handed over (section 4 and findings.json)",
                                   "{count} findings on the data handed over (section 4 and findings.json)",
                                   now).format(count=now))
    if earlier:
        said.append(words.ngettext("{count} finding raised by the runs of the period on the evening each was made "
                                   "(section 5)",
                                   "{count} findings raised by the runs of the period on the evening each was made "
                                   "(section 5)", earlier).format(count=earlier))
    return " ; ".join(said) + "."


def _run_finding(lang: str, key: str, n) -> str:
    journal, _, check = key.partition("/")
    return f"{escape(journal_name(lang, journal))} : {escape(check_meaning(lang, check))} ({n})"


def runs_rows(lang: str, runs: list[dict]) -> str:
    rows = []
    for r in runs:
        if not r["authentic"]:
            # runs.json keeps the reader's own sentence; the report says it in the document's language
            detail = escape(in_language(lang, "its signed facts could not be read or verified (detail in run/runs.json)"))
            n = "?"
        else:
            detail = "<br>".join(_run_finding(lang, k, v) for k, v in sorted(r["by_check"].items())) \
                or escape(in_language(lang, "none"))
            named = [f for f in r.get("named") or [] if isinstance(f.get("record"), dict)][:10]
            if named:
                detail += "<br><small>" + "<br>".join(escape(record_text(lang, f.get("journal"), f["record"]))
                                                      for f in named) + "</small>"
            n = str(r["findings"])
        checked = {"all records": in_language(lang, "all records"),
                   "new records only": in_language(lang, "new records only")}.get(r.get("checked"), "—")
        cls = " class=ko" if r["findings"] or not r["authentic"] else ""
        rows.append(f"<tr{cls}><td class=l>{escape(r['run_id'])}</td><td class=l>{escape(checked)}</td><td>{n}</td>"
                    f"<td class='l wrap'>{detail}</td></tr>")
    if rows:
        return "".join(rows)
    return "<tr><td class=l colspan=4>" + escape(in_language(lang, "No run in the period.")) + "</td></tr>"


def _identity(lang: str, ctx: dict) -> str:
    rows = []
    for label, value, missing in shop_lines(ctx.get("shop") or {}, lang):
        cell = f"<span class=missing>{escape(value)}</span>" if missing else escape(value)
        rows.append(f"<tr><th class=l>{escape(label)}</th><td class=l>{cell}</td></tr>")
    return "".join(rows)


def _z_rows(lang: str, fig: dict) -> str:
    out = []
    for z in fig["z"]:
        per = "".join(f"<td>{euros(ht)}</td><td>{euros(tva)}</td>" for _, ht, tva in z["per_rate"])
        period = z["start"] if z["start"] == z["end"] else f"{z['start']} → {z['end']}"
        out.append(f"<tr><td class=l>{escape(period)}</td><td class=l>{escape(str(z['register']))}</td>"
                   f"<td class=l>{escape(closure_kind(lang, z['kind']))} n° {z['number']}</td>"
                   f"<td>{z['tickets']}</td>{per}<td>{euros(z['ht'])}</td><td>{euros(z['tva'])}</td>"
                   f"<td>{euros(z['ttc'])}</td><td>{euros(z['gt_ht'])}</td><td>{euros(z['gt_ttc'])}</td></tr>")
    if out:
        return "".join(out)
    return "<tr><td class=l colspan=20>" + escape(in_language(lang, "No closure in the period.")) + "</td></tr>"


def _means_rows(lang: str, fig: dict) -> str:
    days: dict[str, dict[str, int]] = {}
    for m in fig["means"]:
        days.setdefault(m["day"], {})[m["means"]] = m["amount"]
    names = sorted({m["means"] for m in fig["means"]})
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    body = "".join(f"<tr><td class=l>{escape(d)}</td>" + "".join(f"<td>{euros(v.get(n, 0))}</td>" for n in names)
                   + f"<td>{euros(sum(v.values()))}</td></tr>" for d, v in sorted(days.items()))
    day, total = escape(in_language(lang, "Business day")), escape(in_language(lang, "Total"))
    return f"<tr><th class=l>{day}</th>{head}<th>{total}</th></tr>{body}"


def render(ctx: dict, checks: CheckResult, figures: dict, skipped: list[str], runs: list[dict],
           lang: str = "fr") -> str:
    s = checks.summary()
    earlier = sum(r["findings"] for r in runs)  # each run's own, signed the evening it was made
    ok = not checks.findings and not earlier
    net, vat = in_language(lang, "Net {rate}"), in_language(lang, "VAT {rate}")
    rates_head = "".join(f"<th>{escape(net.format(rate=rate(bp)))}</th><th>{escape(vat.format(rate=rate(bp)))}</th>"
                         for bp in figures["rates"])
    records = "".join(f"<tr><td class=l>{escape(journal_name(lang, k))}</td><td>{v}</td></tr>"
                      for k, v in s["records"].items())
    findings = "".join(f"<li>{escape(finding_text(lang, f))}</li>" for f in checks.findings[:500]) \
        or "<li class=ok>" + escape(in_language(lang, "No finding on the data handed over.")) + "</li>"
    passed = "".join(f"<li>{escape(x)}</li>" for x in skipped) \
        or "<li>" + escape(in_language(lang, "None: the first copy read was intact.")) + "</li>"
    kinds = "".join(f"<tr><td class=l>{escape(ticket_type(lang, k['type']))}</td><td>{k['count']}</td>"
                    f"<td>{euros(k['ttc'])}</td></tr>" for k in figures["kinds"])
    jet_names = ctx.get("jet_codes") or {}
    jet = "".join(f"<tr><td>{j['code']}</td><td class=l>{escape(jet_names.get(str(j['code']), j['label'] or ''))}</td>"
                  f"<td>{j['count']}</td></tr>" for j in figures["jet_codes"])
    name = (ctx.get("shop") or {}).get("name") or ctx["store_id"]
    verdict_text = (in_language(lang, "Every check holds, today as at each run of the period.") if ok
                    else verdict(lang, s["findings"], earlier))
    h_title = in_language(lang, "Verification report of the till data")
    intro = in_language(lang, "Shop <b>{shop}</b> (Coffre store id <code>{store_id}</code>), period from "
                              "<b>{start}</b> to <b>{end}</b>, business days in the time zone <b>{timezone}</b>. "
                              "Package prepared on {created_at} by Coffre {version}.").format(
        shop=escape(name), store_id=escape(ctx['store_id']), start=escape(ctx['period'][0]),
        end=escape(ctx['period'][1]), timezone=escape(ctx.get('timezone') or 'Europe/Paris'),
        created_at=escape(ctx['created_at']), version=escape(ctx['version']))
    h_who = in_language(lang, "1. Who: the shop and its till")
    key_note = in_language(lang, "The public key of Coffre that signs this package "
                                 "(<code>keys/coffre-signing.pub</code>) has the fingerprint "
                                 "<code>{fingerprint}</code>. Do not trust the key found in the package: compare this "
                                 "fingerprint with the one on the <b>cover letter</b> handed over apart, with the "
                                 "password.").format(
        fingerprint=escape(ctx.get('key_fingerprint', '?')))
    h_origin = in_language(lang, "2. Where the data comes from")
    copy_read = in_language(lang, "Copy read: <b>{destination}</b>, run <b>{run_id}</b> of {run_created_at}.").format(
        destination=escape(ctx['destination']), run_id=escape(ctx['run_id']),
        run_created_at=escape(ctx['run_created_at']))
    copy_verified = in_language(lang, "Before it was used, this copy was verified in full: the signature of "
                                      "MANIFEST.b3 with the public key recorded in the configuration, the BLAKE3 "
                                      "fingerprint of every file, no file missing or added, complete decryption and "
                                      "decompression, the restored database's fingerprint the same as the one taken at "
                                      "the run, SQLite's integrity check, the same number of rows in every table.")
    passed_over = in_language(lang, "Copies passed over:")
    manifest_note = in_language(lang, "The manifest of this run is included (<code>run/manifest.json</code>, "
                                      "<code>run/MANIFEST.b3</code> and its signature).")
    h_checks = in_language(lang, "3. Checks of the journals")
    checks_done = in_language(lang, "Signatures verified: {count} (Ed25519, the till's public keys in "
                                    "<code>keys/till-keys.json</code>); each ticket's signature also covers the "
                                    "fingerprint of its lines and of its payments, the operator and, for a refund, the "
                                    "original sale. Checked: the chains and numbering of each journal; each ticket "
                                    "against its breakdown per rate, its lines (quantity × price − discount) and its "
                                    "payments; lines and payments without a ticket; each closure against the tickets "
                                    "and lines of its day, the monthly and yearly closures, the perpetual grand "
                                    "totals; the JET event of each closure and of each duplicate. How to redo each "
                                    "check is told in LISEZMOI.txt.").format(
        count=s['signatures_verified'])
    if s.get("seals_checked"):  # a till that seals its own chain (Odoo, Dolibarr): what was recomputed, said first
        checks_done = in_language(lang, "Seals of the till's own chain recomputed: {count}, each by the till's own "
                                        "recipe from the values it hashed (the journal <code>source_chain</code>, the "
                                        "recipes in <code>chains/</code>); a till that seals a copy of its invoices "
                                        "is also held to the tables as they are now.").format(
            count=s["seals_checked"]) + " " + checks_done
    th_journal = in_language(lang, "Journal")
    th_records = in_language(lang, "Records")
    h_findings = in_language(lang, "4. Findings on the data handed over")
    h_runs = in_language(lang, "5. The runs of the period and what each one found")
    runs_note = in_language(lang, "Every evening, the run checks the journals again and signs its findings with "
                                  "itself. A finding of one evening (a record removed at the end of a chain, a "
                                  "re-signed chain) therefore stays visible here even if the data has changed since. "
                                  "Detail: <code>run/runs.json</code>.")
    th_run = in_language(lang, "Run")
    th_checked = in_language(lang, "Checked")
    th_findings = in_language(lang, "Findings")
    th_detail = in_language(lang, "Detail")
    h_closures = in_language(lang, "6. Closures (Z): amounts per VAT rate and grand totals")
    th_day = in_language(lang, "Business day or period")
    th_till = in_language(lang, "Till")
    th_closure = in_language(lang, "Closure")
    th_tickets = in_language(lang, "Tickets")
    th_net = in_language(lang, "Total net")
    th_vat = in_language(lang, "VAT")
    th_gross = in_language(lang, "Total incl. VAT")
    th_gt_net = in_language(lang, "Perpetual grand total net")
    th_gt_gross = in_language(lang, "Perpetual grand total incl. VAT")
    h_means = in_language(lang, "7. Payment means per business day")
    h_kinds = in_language(lang, "8. Sales, refunds, cancellations, training, duplicates")
    th_count = in_language(lang, "Count")
    duplicates_printed = in_language(lang, "duplicates printed")
    h_jet = in_language(lang, "9. Technical event journal (JET): codes of the period")
    th_code = in_language(lang, "Code")
    th_event = in_language(lang, "Event")
    h_redo = in_language(lang, "10. Redo these checks")
    redo_sums = in_language(lang, "Integrity of the package: <code>sha256sum --check SHA256SUMS</code> (on Windows: "
                                  "<code>certutil -hashfile FILE SHA256</code>).")
    redo_signature = in_language(lang, "Authenticity, with the key of the cover letter (not the one in the package): "
                                       "<code>minisign -V -P KEY_FROM_THE_LETTER -m SHA256SUMS</code>, or "
                                       "<code>openssl pkeyutl -verify -pubin -inkey keys/coffre-signing.pem -rawin -in "
                                       "SHA256SUMS -sigfile SHA256SUMS.sig</code> after comparing the fingerprint of "
                                       "<code>keys/coffre-signing.pem</code> with the letter's.")
    redo_verify = in_language(lang, "Chains, signatures, numbering and totals recomputed from the CSV files: "
                                    "<code>python3 verify.py</code> (Python's standard library only; faster when the "
                                    "“cryptography” module is installed).")
    title = in_language(lang, "Verification report — {shop}").format(shop=name)
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{CSS}</style></head><body>
<h1>{h_title}</h1>
<p>{intro}</p>

<h2>{h_who}</h2>
<table>{_identity(lang, ctx)}</table>
<p>{key_note}</p>

<h2>{h_origin}</h2>
<ul>
<li>{copy_read}</li>
<li>{copy_verified}</li>
<li>{passed_over} <ul>{passed}</ul></li>
<li>{manifest_note}</li>
</ul>

<h2>{h_checks}</h2>
<p class="{'ok' if ok else 'ko'}">{escape(verdict_text)}</p>
<p>{checks_done}</p>
<table><tr><th class=l>{th_journal}</th><th>{th_records}</th></tr>{records}</table>

<h2>{h_findings}</h2>
<ul>{findings}</ul>

<h2>{h_runs}</h2>
<p>{runs_note}</p>
<table><tr><th class=l>{th_run}</th><th class=l>{th_checked}</th>
<th>{th_findings}</th><th class=l>{th_detail}</th></tr>{runs_rows(lang, runs)}</table>

<h2>{h_closures}</h2>
<table><tr><th class=l>{th_day}</th><th class=l>{th_till}</th>
<th class=l>{th_closure}</th><th>{th_tickets}</th>{rates_head}
<th>{th_net}</th><th>{th_vat}</th><th>{th_gross}</th>
<th>{th_gt_net}</th><th>{th_gt_gross}</th></tr>
{_z_rows(lang, figures)}</table>

<h2>{h_means}</h2>
<table>{_means_rows(lang, figures)}</table>

<h2>{h_kinds}</h2>
<table><tr><th class=l>{th_tickets}</th><th>{th_count}</th>
<th>{th_gross}</th></tr>{kinds}
<tr><td class=l>{duplicates_printed}</td><td>{figures['duplicates']}</td><td></td></tr></table>

<h2>{h_jet}</h2>
<table><tr><th>{th_code}</th><th class=l>{th_event}</th>
<th>{th_count}</th></tr>{jet}</table>

<h2>{h_redo}</h2>
<ol>
<li>{redo_sums}</li>
<li>{redo_signature}</li>
<li>{redo_verify}</li>
</ol>
</body></html>
"""
