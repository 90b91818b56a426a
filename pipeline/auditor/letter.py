"""The cover letter (lettre de transmission) that goes with the password, apart from the package: it carries the
signing key's fingerprint and the package's SHA-256, so that the inspector trusts neither a key nor a sum found
inside the package itself. Text to read, HTML to print; no password in it (written by hand, or given apart)."""

from __future__ import annotations

from html import escape

from pipeline import shop as shop_identity


def letter_facts(ctx: dict) -> list[tuple[str, str]]:
    return [
        ("Période", f"du {ctx['period'][0]} au {ctx['period'][1]} (journées commerciales, {ctx['timezone']})"),
        ("Fichier remis", f"{ctx['zip_name']} ({ctx['zip_size']} octets, ZIP chiffré AES-256)"),
        ("SHA-256 du fichier", ctx["zip_sha256"]),
        ("Mot de passe du fichier", "remis séparément : ____________________________"),
        ("Clé publique de Coffre (minisign)", ctx["public_key"]),
        ("Empreinte de cette clé (SHA-256)", ctx["key_fingerprint"]),
    ] + [(f"Empreinte de la clé de la caisse {k['key_id']}", k["fingerprint"]) for k in ctx["till_keys"]]


def render_text(ctx: dict) -> str:
    who = "\n".join(f"  {label:<36} {value}" for label, value in shop_identity.lines(ctx["shop"]))
    facts = "\n".join(f"  {label:<36} {value}" for label, value in letter_facts(ctx))
    return f"""LETTRE DE TRANSMISSION DES DONNÉES DE CAISSE

Magasin
{who}

Objet : remise, pour contrôle, des données de caisse de la période demandée.

{facts}

Pour vérifier, sans faire confiance à ce qui se trouve dans le paquet :
  1. sha256sum {ctx['zip_name']}     (Windows : certutil -hashfile {ctx['zip_name']} SHA256)
     doit donner l'empreinte SHA-256 ci-dessus ;
  2. 7z x {ctx['zip_name']}          (7-Zip, ou tout outil qui lit les ZIP chiffrés AES-256), avec le mot
     de passe remis à part ;
  3. dans le dossier extrait :
     sha256sum --check SHA256SUMS
     minisign -V -P {ctx['public_key']} -m SHA256SUMS
     (la clé est donnée ici, pas lue dans le paquet ; avec OpenSSL, comparer d'abord l'empreinte de
     keys/coffre-signing.pem : openssl pkey -pubin -in keys/coffre-signing.pem -outform DER | tail -c 32 | sha256sum)
  4. python3 verify.py               (revérifie chaque signature de la caisse, chaînes et totaux) ; les clés
     de la caisse qu'il utilise sont dans keys/till-keys.json : le SHA-256 de chacune (la clé brute de 32
     octets) doit être l'empreinte ci-dessus ;
  5. ouvrir rapport.html dans un navigateur.

Fait à ____________________, le ____________________

Signature du commerçant :
"""


def render_html(ctx: dict) -> str:
    who = "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>"
                  for label, value in shop_identity.lines(ctx["shop"]))
    facts = "".join(f"<tr><th>{escape(label)}</th><td><code>{escape(value)}</code></td></tr>"
                    for label, value in letter_facts(ctx))
    name = ctx["shop"].get("name") or ctx["store_id"]
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Lettre de transmission — {escape(name)}</title>
<style>body{{font-family:serif;max-width:42em;margin:2em auto}}th{{text-align:left;padding-right:1em;vertical-align:top}}
code{{word-break:break-all}}@page{{size:A4;margin:2cm}}</style></head><body>
<h1>Lettre de transmission des données de caisse</h1>
<h2>Magasin</h2><table>{who}</table>
<p>Objet : remise, pour contrôle, des données de caisse de la période demandée.</p>
<table>{facts}</table>
<h2>Pour vérifier, sans faire confiance à ce qui se trouve dans le paquet</h2>
<ol>
<li><code>sha256sum {escape(ctx['zip_name'])}</code> doit donner l'empreinte SHA-256 ci-dessus
(Windows : <code>certutil -hashfile {escape(ctx['zip_name'])} SHA256</code>).</li>
<li>Extraire le paquet avec 7-Zip (ou tout outil qui lit les ZIP chiffrés AES-256) et le mot de passe remis à part.</li>
<li>Dans le dossier extrait : <code>sha256sum --check SHA256SUMS</code> puis
<code>minisign -V -P {escape(ctx['public_key'])} -m SHA256SUMS</code> (la clé est celle de cette lettre).</li>
<li><code>python3 verify.py</code>, puis ouvrir <code>rapport.html</code>.</li>
</ol>
<p>Fait à ____________________, le ____________________</p>
<p>Signature du commerçant :</p>
</body></html>
"""
