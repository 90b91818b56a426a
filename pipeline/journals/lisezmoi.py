"""LISEZMOI.txt: the French guide to an export, every file and field, and how to recompute each chain."""

from __future__ import annotations

from pipeline.journals.checks import CheckResult
from pipeline.journals.mapping import Mapping, journal_schema

HEAD = """\
LISEZMOI - Journaux fiscaux de la caisse, exportés par Coffre
==============================================================

Ce dossier contient les journaux de la caisse enregistreuse, tels que la caisse les a
enregistrés, dans des formats ouverts lisibles sans le logiciel de la caisse :

  - NOM.csv  : texte UTF-8 avec BOM, séparateur « ; », une ligne d'en-tête avec le nom des
               champs, fins de ligne CRLF. Les textes sont entre guillemets (un guillemet dans
               un texte est doublé), les nombres ne le sont pas, une valeur absente est vide.
               Chaque montant en centimes (…_cents) est suivi du même montant en euros avec
               une virgule décimale (…_eur), pour un tableur.
               Ouvrir dans Excel : un double clic suffit (le BOM indique l'UTF-8) ; sinon
               Données > À partir d'un fichier texte/CSV, origine « 65001 : Unicode (UTF-8) »,
               délimiteur « Point-virgule ». LibreOffice : jeu de caractères UTF-8, séparateur
               « ; ».
  - NOM.json : les mêmes enregistrements, dans le même ordre, en JSON (un tableau d'objets,
               un objet par ligne). Son schéma JSON est publié avec Coffre
               (schemas/journals/NOM.schema.json).

Ordre des lignes : par caisse puis par numéro. Dans une sauvegarde qui n'a contrôlé que les
enregistrements nouveaux depuis la précédente, ceux-ci suivent les enregistrements déjà
sauvegardés : avec plusieurs caisses, le fichier est alors dans l'ordre d'archivage, et la
chaîne de chaque caisse reste dans son propre ordre. Trier sur « register » puis « number »
(ou « seq ») redonne l'ordre par caisse.

Conventions : les montants sont en centimes d'euro (nombres entiers : 1234 = 12,34 EUR),
négatifs pour un remboursement ou une annulation ; les dates et heures suivent l'ISO 8601
à la seconde : « timestamp » telle que la caisse l'a écrite (2025-01-31T18:02:45Z, « Z » = temps
universel UTC), « local_time » l'heure locale du magasin avec son décalage
(2025-01-31T19:02:45+01:00) et « business_day » la journée commerciale (date locale), celle que
les clôtures (Z) regroupent ; les taux de TVA sont en
points de base (550 = 5,5 %, 1000 = 10 %, 2000 = 20 %).

Coffre ne rend pas une caisse conforme : il conserve et prouve ce que la caisse a enregistré.
Les contrôles ci-dessous ne bloquent jamais la sauvegarde ; leurs constats sont dans
findings.json et résumés à la fin de ce fichier.

Fichiers
--------
  export.json     : description de l'export (magasin, sauvegarde d'origine, période,
                    nombre d'enregistrements par journal, correspondance utilisée).
  findings.json   : constats des contrôles (voir « Contrôles »), chacun nommant le journal,
                    l'enregistrement (caisse, numéro) et le problème.
  coffre-log.jsonl: (dans les sauvegardes) journal des opérations de Coffre lui-même,
                    chaîné (voir la fin de ce fichier).
"""

CHAIN = """\
Chaînage et signatures : comment tout recalculer
-------------------------------------------------
Chaque enregistrement signé porte « signature » (sa signature) et « previous_signature »
(la signature de l'enregistrement précédent de la même chaîne, vide pour le premier).
La signature est une signature Ed25519 (RFC 8032) de la « chaîne signée » ci-dessous,
encodée en UTF-8, écrite en base64url sans « = » final. La clé publique de la caisse est
dans la table {keys} de la base (clé brute de 32 octets, base64) ; Coffre la lit par :
  {keys_sql}

Pour vérifier une chaîne : prendre ses enregistrements dans l'ordre indiqué, vérifier que
previous_signature de chacun est la signature du précédent, reconstruire la chaîne signée
avec la recette, et vérifier la signature avec la clé publique (par exemple avec Python et
le paquet « cryptography », ou OpenSSL : openssl pkeyutl -verify -rawin).

Recette : chaque {{champ}} est remplacé par la valeur du champ du même nom dans le CSV
(nombre en décimal, valeur absente = vide) ; {{champ!e}} de même, mais « \\ » y est écrit
« \\\\ » et « , » y est écrit « \\, ».
"""


def render(mapping: Mapping, meta: dict, checks: CheckResult, language: str = "fr") -> str:
    """The guide in `language` (the auditor's package carries a French LISEZMOI.txt and an English README.txt)."""
    out = [HEAD]
    for name, j in mapping.journals.items():
        schema = journal_schema(name)
        n = meta.get("records", {}).get(name)
        out.append(f"\n{name}.csv / {name}.json" + (f"  ({n} enregistrements)" if n is not None else ""))
        out.append("-" * (len(name) * 2 + 12))
        out.append(schema.get("description", ""))
        for f, p in schema["items"]["properties"].items():
            out.append(f"  {f:34} {p.get('description', '')}")
    keys_table = mapping.doc["signature"].get("public_keys_sql", "").split(" FROM ")[-1].split()[0]
    out.append("\n" + CHAIN.format(keys=keys_table, keys_sql=mapping.public_keys_sql))
    for name, j in mapping.journals.items():
        if not j.payload:
            continue
        scope = ("par " + " et ".join(j.chain_key)) if j.chain_key else "une seule chaîne pour tout le magasin"
        order = j.chain_order or j.numbering_field or "ordre du fichier"
        out.append(f"  {name} : une chaîne {scope}, dans l'ordre de « {order} » ; chaîne signée :")
        out.append(f"      {j.payload}")
    out.append(CHECKS)
    summary = checks.summary()
    out.append(f"Résultat des contrôles de cet export : {summary['findings']} constat(s).")
    for f in checks.findings[:50]:
        out.append(f"  - {f.sentence()}")
    if summary["findings"] > 50:
        out.append(f"  … et {summary['findings'] - 50} autres, tous dans findings.json.")
    out.append(LOG)
    return "\n".join(out) + "\n"


CHECKS = """
Contrôles faits par Coffre (sur une copie de la base, jamais sur la base en service)
-------------------------------------------------------------------------------------
  signature        : la signature de l'enregistrement correspond à son contenu ;
  chain_link       : previous_signature est bien la signature du précédent (un
                     enregistrement supprimé, inséré ou réécrit rompt la chaîne) ;
  numbering_gap    : numéros sans trou (tickets, clôtures, duplicata par caisse ; JET) ;
  numbering_duplicate : aucun numéro utilisé deux fois ;
  tail_deleted     : des enregistrements présents lors d'un contrôle précédent ont disparu ;
  ticket_lines     : chaque ticket, taux par taux, est égal à la somme de ses lignes ;
  payments         : les règlements d'un ticket font son total ;
  closure_total    : chaque clôture journalière est égale à la somme des tickets du jour
                     (ventes, remboursements, annulations ; hors formation), chaque clôture
                     mensuelle à ses journalières, chaque annuelle à ses mensuelles ;
  closure_lines    : chaque clôture journalière, taux par taux, égale les lignes du jour ;
  grand_total      : chaque grand total perpétuel est le précédent plus le total de la
                     période ; une clôture mensuelle ou annuelle porte celui de sa
                     dernière journalière ;
  breakdown        : le total HT, la TVA totale et le TTC de chaque ticket et de chaque
                     clôture égalent sa propre ventilation par taux (HT + TVA = TTC) ;
  line_arithmetic  : chaque ligne : quantité x prix unitaire (arrondi au centime, au plus
                     proche, la moitié loin de zéro) - remise = total de la ligne ;
  orphan           : aucune ligne ni aucun règlement d'un ticket absent du journal ;
  jet_missing      : chaque clôture (codes 80, 81, 82) et chaque duplicata (code 60) a son
                     événement dans le JET ; jet_orphan : chaque tel événement a son
                     enregistrement ;
  chain_changed    : des enregistrements déjà vérifiés lors d'une sauvegarde précédente ont
                     changé tout en restant signés (une chaîne re-signée).
Empreintes des lignes et des règlements : la signature d'un ticket couvre « lines_sha256 » et
« payments_sha256 », le SHA-256 (hexadécimal) de ses lignes, chacune écrite
« ligne:sku:quantité:prix_unitaire:remise:taux:total » dans l'ordre des numéros de ligne,
jointes par « | », et de ses règlements, « moyen:montant » dans l'ordre d'enregistrement ;
verify.py les recalcule depuis ticket_lines.csv et payments.csv.
Un contrôle limité à une période ne vérifie pas le lien du premier enregistrement de chaque
chaîne avec le précédent (hors période).
"""

LOG = """
Journal de Coffre (coffre-log.jsonl)
------------------------------------
Une ligne JSON par opération de Coffre (archivage, vérification, exercice de restauration,
export). Chaque ligne porte « previous_hash », l'empreinte BLAKE3 (hexadécimal) de la ligne
précédente telle qu'écrite (octets UTF-8, sans la fin de ligne) ; la première porte 64 zéros.
Une ligne supprimée ou réécrite rompt la chaîne.
"""
