"""Coffre's fiscal rules, written once: what each check means, how a line's total is rounded, how a ticket's lines
and payments are digested, how a closure writes its payments per means.

Standard library only, Python 3.6 and later: the same file is copied beside verify.py into every auditor package,
where the inspector's bare python3 imports it, while Coffre's checks (pipeline/journals/) and its report import it
here. A rule changed here changes for both.
"""

import hashlib
import re

# check -> (English, French): what a finding of that check means, said once for the logs, the report, LISEZMOI
# and verify.py.
CHECKS = {
    "signature": ("its signature does not match its content: the record was altered after signing",
                  "signature invalide : l'enregistrement a été modifié après sa signature"),
    "chain_link": ("its previous_signature is not the signature of the record before it: a record was removed, "
                   "inserted or rewritten here",
                   "chaînage rompu : un enregistrement a été supprimé, inséré ou réécrit à cet endroit"),
    "numbering_gap": ("numbers are missing", "numérotation interrompue : des numéros manquent"),
    "numbering_duplicate": ("a number is used twice", "numéro utilisé deux fois"),
    "numbering_not_integer": ("a number is not a whole number", "numéro qui n'est pas un nombre entier"),
    "tail_deleted": ("records seen at an earlier run are gone from the end of the chain",
                     "des enregistrements présents lors d'une sauvegarde précédente ont disparu en fin de chaîne"),
    "chain_changed": ("records verified at an earlier run have changed since, yet still verify (a re-signed chain)",
                      "des enregistrements déjà vérifiés ont changé depuis tout en restant signés (chaîne re-signée)"),
    "closure_total": ("the closure does not add up to the tickets of its period",
                      "la clôture ne correspond pas aux tickets de sa période"),
    "closure_lines": ("the closure does not match the ticket lines of its period",
                      "la clôture ne correspond pas aux lignes des tickets de sa période"),
    "closure_means": ("the closure's payments per means do not match those of its tickets",
                      "les règlements par moyen de paiement de la clôture ne correspondent pas à ceux de ses tickets"),
    "grand_total": ("the perpetual grand total does not follow from the previous closure",
                    "grand total perpétuel incohérent avec la clôture précédente"),
    "ticket_lines": ("the ticket does not equal the sum of its lines",
                     "le ticket ne correspond pas à la somme de ses lignes"),
    "payments": ("the ticket's total does not equal its payments",
                 "le total du ticket ne correspond pas à ses règlements"),
    "breakdown": ("the totals do not equal the record's own per-rate VAT breakdown",
                  "les totaux ne correspondent pas à la ventilation par taux de TVA de l'enregistrement"),
    "line_arithmetic": ("quantity x unit price - discount does not give the line's total",
                        "quantité × prix unitaire − remise ne donne pas le total de la ligne"),
    "orphan": ("lines or payments of a ticket that is not in the tickets journal",
               "lignes ou règlements d'un ticket absent du journal des tickets"),
    "jet_missing": ("no event of the technical journal (JET) records this operation",
                    "aucun événement du journal technique (JET) n'enregistre cette opération"),
    "jet_orphan": ("a JET event whose operation is not there", "événement du JET dont l'opération est absente"),
    "till_key_added": ("a till public key appeared since the last run: check that the till made it",
                       "une clé publique de caisse est apparue depuis la sauvegarde précédente : vérifier qu'elle "
                       "vient de la caisse"),
    "till_key_removed": ("a till public key that was there at the last run is gone",
                         "une clé publique de caisse présente lors de la sauvegarde précédente a disparu"),
    "source_seal": ("the till's own seal does not match the record's content: it was altered after sealing",
                    "le sceau de la caisse ne correspond pas au contenu de l'enregistrement : modifié après scellement"),
    "source_gap": ("sequence numbers of the till's own chain are missing: sealed records were deleted",
                   "des numéros de la chaîne de la caisse manquent : des enregistrements scellés ont été supprimés"),
    "source_link": ("the record a sealed record is linked to is missing",
                    "l'enregistrement auquel un enregistrement scellé est lié est absent"),
    "source_duplicate": ("a sequence number of the till's own chain is used twice",
                         "un numéro de la chaîne de la caisse est employé deux fois"),
    "source_content": ("a sealed record lacks a value its recipe hashes",
                       "un enregistrement scellé n'a pas une valeur que sa recette hache"),
    "source_recipe": ("a sealed record names a recipe Coffre does not know",
                      "un enregistrement scellé nomme une recette inconnue"),
    "source_secret": ("records sealed with the till's secret were not checked: the secret was not given",
                      "des enregistrements scellés avec le secret de la caisse n'ont pas été vérifiés : secret non "
                      "fourni"),
    "source_sealed": ("the till's tables no longer hold what its sealed record says of them: changed after sealing",
                      "les tables de la caisse ne contiennent plus ce qu'en dit son enregistrement scellé : modifiées "
                      "après scellement"),
    "source_unsealed": ("no record of the till's own chain seals this ticket",
                        "aucun enregistrement de la chaîne de la caisse ne scelle ce ticket"),
    "source_changed": ("records of the till's own chain archived at an earlier run are not the same now: the chain "
                       "was re-sealed or rewritten",
                       "des enregistrements de la chaîne de la caisse archivés lors d'une sauvegarde précédente ont "
                       "changé : la chaîne a été rescellée ou réécrite"),
    "source_downgrade": ("records sealed by an older way than records before them (what a forger without the till's "
                         "secret would do)",
                         "enregistrements scellés d'une façon plus ancienne que ceux qui les précèdent (ce que ferait "
                         "un faussaire sans le secret de la caisse)"),
    "source_unmatched": ("no seal of the till's own chain matches: the till's secret or the time zone of its server "
                         "is not the right one, unless every record was altered",
                         "aucun sceau de la chaîne de la caisse ne correspond : le secret de la caisse ou le fuseau "
                         "horaire de son serveur n'est pas le bon, à moins que tout ait été modifié"),
    "source_timezone": ("seals of the till's own chain hold only with their times an hour off: the time zone of the "
                        "till's server is not [journals] timezone",
                        "des sceaux de la chaîne de la caisse ne tiennent qu'avec leurs heures décalées d'une heure : "
                        "le fuseau horaire du serveur de la caisse n'est pas [journals] timezone"),
    "lines_sha256": ("the ticket's lines are not those its signature covers",
                     "les lignes du ticket ne sont pas celles que couvre sa signature"),
    "payments_sha256": ("the ticket's payments are not those its signature covers",
                        "les règlements du ticket ne sont pas ceux que couvre sa signature"),
}


def french(check):
    return CHECKS.get(check, (check, check))[1]


def english(check):
    return CHECKS.get(check, (check, check))[0]


# Coffre's check of a line is SQLite's `CAST(round(quantity * unit_price) AS INTEGER) - discount`, a quantity the
# till holds as a text read with text_number (SQLite's own reading of a text changed between versions, and differs
# from Python's in the last bit on some); line_total gives the same result from the CSV, so that verify.py
# names the same lines even where a value is absurd (a quantity of 1e999, a text, the largest integers): SQLite
# turns an integer product or difference past 64 bits into a real, a real into an integer by clamping it to 64 bits,
# and a NaN into NULL (None here); its round() leaves alone a real past 2^52, which has no fraction.
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_NUMBER_PREFIX = re.compile(r"[ \t\n\v\f\r]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+)?")


def text_number(text):
    """The number in a text, as SQLite's arithmetic finds it: its longest numeric prefix after spaces ('12abc' is 12,
    'abc' and '0x10' are 0, '1e999' is infinite), an integer when that prefix is one within 64 bits, else the nearest
    double to it; but Inf and -Inf, SQLite's own text of an infinite real (which it would read as 0), are infinite,
    and an empty text is absent (None), as a CSV cell cannot tell it from NULL."""
    if text is None or text == "":
        return None
    if text in ("Inf", "-Inf"):
        return float(text)
    m = _NUMBER_PREFIX.match(text)
    if m is None:
        return 0
    mantissa, exponent = m.group(1), m.group(2)
    if exponent is None and "." not in mantissa and len(mantissa) < 30 and INT64_MIN <= int(mantissa) <= INT64_MAX:
        return int(mantissa)
    return float(mantissa + (exponent or ""))


def _sqlite_op(a, b, op):
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        exact = op(a, b)
        if INT64_MIN <= exact <= INT64_MAX:
            return exact
    real = op(float(a), float(b))
    return None if real != real else real


def _sqlite_round(value):
    r = float(value)
    if -4503599627370496.0 <= r <= 4503599627370496.0:
        r = float(int(r + (-0.5 if r < 0 else 0.5)))
    return r


def _sqlite_integer(r):
    if r <= -9223372036854775808.0:
        return INT64_MIN
    if r >= 9223372036854775808.0:
        return INT64_MAX
    return int(r)


def line_total(quantity, unit_price, discount):
    """What a line's total must be: quantity x unit price, rounded to the cent (the half away from zero: 2.5 -> 3,
    -2.5 -> -3, for a weighed 0.35 kg), minus the discount; as Coffre's check computes it in SQLite (None where SQLite
    gives NULL), for any values: a quantity an int or a float (text_number reads one from a text), None for an absent
    one; a price and a discount ints."""
    product = _sqlite_op(quantity, unit_price, lambda a, b: a * b)
    if product is None:
        return None
    return _sqlite_op(_sqlite_integer(_sqlite_round(product)), discount, lambda a, b: a - b)


def digest(parts):
    """SHA-256 (hex) of the parts joined by '|', in the order given (lines by line number, payments as recorded);
    no part gives the digest of the empty string. What the reference till signs for a ticket's lines and payments."""
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()


def means_text(sums):
    """A closure's payments per means: 'means:amount' sorted by means, joined by '|' (means of no amount left out)."""
    return "|".join("{}:{}".format(m, a) for m, a in sorted(sums.items(), key=lambda ma: str(ma[0])) if a)


def parse_means(text):
    """'card:123|cash:-45' -> {'card': 123, 'cash': -45}; None when the text is not that."""
    if text is None:
        return None
    out = {}
    for part in str(text).split("|") if text else []:
        means, sep, amount = part.rpartition(":")
        if not sep or not means:
            return None
        try:
            out[means] = out.get(means, 0) + int(amount)
        except ValueError:
            return None
    return out
