"""The cover letter (lettre de transmission) that goes with the password, apart from the package: it carries the
signing key's fingerprint and the package's SHA-256, so that the inspector trusts neither a key nor a sum found
inside the package itself. Text to read, HTML to print; no password in it (written by hand, or given apart). In French
(the inspector's language) whatever the process speaks: every sentence comes from the catalogue."""

from __future__ import annotations

from html import escape

from pipeline.auditor.words import shop_lines
from pipeline.i18n import in_language


def letter_facts(ctx: dict, lang: str = "fr") -> list[tuple[str, str]]:
    return [
        (in_language(lang, "Period"),
         in_language(lang, "from {start} to {end} (business days, {timezone})").format(
             start=ctx['period'][0], end=ctx['period'][1], timezone=ctx['timezone'])),
        (in_language(lang, "File handed over"),
         in_language(lang, "{name} ({size} bytes, ZIP encrypted with AES-256)").format(
             name=ctx['zip_name'], size=ctx['zip_size'])),
        (in_language(lang, "SHA-256 of the file"), ctx["zip_sha256"]),
        (in_language(lang, "Password of the file"), in_language(lang, "handed over apart: ____________________________")),
        (in_language(lang, "Public key of Coffre (minisign)"), ctx["public_key"]),
        (in_language(lang, "Fingerprint of this key (SHA-256)"), ctx["key_fingerprint"]),
    ] + [(in_language(lang, "Fingerprint of the till's key {key_id}").format(key_id=k['key_id']),
          k["fingerprint"] or in_language(lang, "unreadable"))
         for k in ctx["till_keys"]]


def render_text(ctx: dict, lang: str = "fr") -> str:
    who = "\n".join(f"  {label:<36} {value}" for label, value, _ in shop_lines(ctx["shop"], lang))
    facts = "\n".join(f"  {label:<36} {value}" for label, value in letter_facts(ctx, lang))
    zip_name, key = ctx['zip_name'], ctx['public_key']
    return "\n".join([
        in_language(lang, "COVER LETTER FOR THE TILL DATA"),
        "",
        in_language(lang, "Shop"),
        who,
        "",
        in_language(lang, "Subject: the till data of the period asked for, handed over for inspection."),
        "",
        facts,
        "",
        in_language(lang, "To check, without trusting what is inside the package:"),
        in_language(lang, "  1. sha256sum {zip}     (Windows: certutil -hashfile {zip} SHA256)\n"
                          "     must give the SHA-256 fingerprint above;").format(zip=zip_name),
        in_language(lang, "  2. 7z x {zip}          (7-Zip, or any tool that reads ZIP files encrypted with AES-256),\n"
                          "     with the password handed over apart;").format(zip=zip_name),
        in_language(lang, "  3. in the extracted folder:\n"
                          "     sha256sum --check SHA256SUMS\n"
                          "     minisign -V -P {key} -m SHA256SUMS\n"
                          "     (the key is given here, not read from the package; with OpenSSL, first compare the\n"
                          "     fingerprint of keys/coffre-signing.pem: openssl pkey -pubin -in keys/coffre-signing.pem "
                          "-outform DER | tail -c 32 | sha256sum)").format(key=key),
        in_language(lang, "  4. python3 verify.py               (checks every signature of the till, the chains and the "
                          "totals again);\n"
                          "     the till's keys it uses are in keys/till-keys.json: the SHA-256 of each (the raw key of\n"
                          "     32 bytes) must be the fingerprint above;"),
        in_language(lang, "  5. open rapport.html in a web browser."),
        "",
        in_language(lang, "Done at ____________________, on ____________________"),
        "",
        in_language(lang, "Signature of the shopkeeper:"),
        "",
    ])


def render_html(ctx: dict, lang: str = "fr") -> str:
    who = "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>"
                  for label, value, _ in shop_lines(ctx["shop"], lang))
    facts = "".join(f"<tr><th>{escape(label)}</th><td><code>{escape(value)}</code></td></tr>"
                    for label, value in letter_facts(ctx, lang))
    name = ctx["shop"].get("name") or ctx["store_id"]
    zip_name, key = escape(ctx['zip_name']), escape(ctx['public_key'])
    title = in_language(lang, "Cover letter — {shop}").format(shop=name)
    heading = in_language(lang, "Cover letter for the till data")
    shop = in_language(lang, "Shop")
    subject = in_language(lang, "Subject: the till data of the period asked for, handed over for inspection.")
    to_check = in_language(lang, "To check, without trusting what is inside the package")
    step_sum = in_language(lang, "<code>sha256sum {zip}</code> must give the SHA-256 fingerprint above (Windows: "
                                 "<code>certutil -hashfile {zip} SHA256</code>).").format(zip=zip_name)
    step_zip = in_language(lang, "Extract the package with 7-Zip (or any tool that reads ZIP files encrypted with "
                                 "AES-256) and the password handed over apart.")
    step_sig = in_language(lang, "In the extracted folder: <code>sha256sum --check SHA256SUMS</code> then "
                                 "<code>minisign -V -P {key} -m SHA256SUMS</code> (the key is the one of this "
                                 "letter).").format(key=key)
    step_verify = in_language(lang, "<code>python3 verify.py</code>, then open <code>rapport.html</code>.")
    done = in_language(lang, "Done at ____________________, on ____________________")
    signature = in_language(lang, "Signature of the shopkeeper:")
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:serif;max-width:42em;margin:2em auto}}th{{text-align:left;padding-right:1em;vertical-align:top}}
code{{word-break:break-all}}@page{{size:A4;margin:2cm}}</style></head><body>
<h1>{heading}</h1>
<h2>{shop}</h2><table>{who}</table>
<p>{subject}</p>
<table>{facts}</table>
<h2>{to_check}</h2>
<ol>
<li>{step_sum}</li>
<li>{step_zip}</li>
<li>{step_sig}</li>
<li>{step_verify}</li>
</ol>
<p>{done}</p>
<p>{signature}</p>
</body></html>
"""
