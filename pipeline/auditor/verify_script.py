#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""verify.py : revérifie un paquet Coffre remis au contrôle, avec Python seul (bibliothèque standard).

    python3 verify.py [DOSSIER] [--sample N] [--seed S] [--python-seul] [--secret-file FICHIER]

DOSSIER est le dossier du paquet décompressé (par défaut : le dossier de ce fichier).
Le programme :
  1. recalcule l'empreinte SHA-256 de chaque fichier listé dans SHA256SUMS ;
  2. recalcule chaque chaîne de signatures des journaux (recettes de recipes.json, clés
     publiques de la caisse dans till-keys.json) et vérifie TOUTES les signatures Ed25519
     (RFC 8032) : avec la bibliothèque « cryptography » si elle est installée (rapide),
     sinon avec l'implémentation en Python pur incluse ci-dessous, sur tous les cœurs ;
     La chaîne propre de la caisse (Odoo, Dolibarr), quand le paquet en a une, est recalculée
     sceau par sceau avec les recettes du dossier chains/ ;
  3. contrôle la numérotation (trous, doublons) ;
  4. recalcule les totaux : tickets contre leurs lignes et leurs règlements, clôtures
     contre leurs tickets, clôtures mensuelles et annuelles, grands totaux perpétuels.
Code de sortie : 0 si tout est conforme, 1 s'il y a au moins un constat, 2 si la
commande est mal employée.

Options :
  --sample N        un aperçu rapide au lieu de tout vérifier : dans chaque chaîne de plus de
                    200 enregistrements, les 50 premières signatures, les 50 dernières et N
                    autres tirées au hasard, de façon reproductible ;
  --seed S          graine de ce tirage (défaut : 0), pour un autre échantillon ;
  --python-seul     n'utiliser que le Python pur, même si « cryptography » est installée
                    (pour vérifier le vérificateur) ;
  --all-signatures  accepté pour les anciens usages : c'est le comportement par défaut ;
  --secret-file F   le fichier du secret de la caisse, pour une chaîne scellée avec un secret
                    (Dolibarr, format V2) ; à défaut, la variable d'environnement COFFRE_CHAIN_SECRET.

Written for Python 3.6 and later, standard library only, with fiscal_rules.py beside it (the rules
Coffre itself applies, written once): the inspector may have nothing else. Memory: CSV files are streamed; what is held is per-chain state, per-ticket
sums of lines and payments, and per-register, per-day sums of tickets.
"""

import base64
import binascii
import bisect
import csv
import hashlib
import io
import itertools
import json
import os
import random
import re
import sys
import time

def _rules_module():
    """fiscal_rules.py, Coffre's rules written once: beside this file in a package, one folder up in Coffre's own
    source tree."""
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in (here, os.path.dirname(here)):
        if os.path.isfile(os.path.join(folder, "fiscal_rules.py")):
            if folder not in sys.path:
                sys.path.insert(0, folder)
            sys.dont_write_bytecode = True  # nothing written into the package (a __pycache__ would be a new file)
            import fiscal_rules
            return fiscal_rules
    sys.stderr.write("verify.py : fiscal_rules.py est absent ; il doit se trouver à côté de verify.py.\n")
    sys.exit(2)


fiscal_rules = _rules_module()
# A cell is as long as what the till held (a damaged quantity of 200,000 characters): the csv module's default limit
# (131,072) would leave a whole journal unread. 2^31 - 1 is the most it takes where a C long is 32 bits (Windows).
csv.field_size_limit(2**31 - 1)


def _chains_module():
    """chains/, the recipes of the tills' own seals (Odoo, Dolibarr): beside this file in a package, one folder up
    in Coffre's own source tree. None when absent (a package without a till chain has none)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in (here, os.path.dirname(here)):
        if os.path.isfile(os.path.join(folder, "chains", "__init__.py")):
            if folder not in sys.path:
                sys.path.insert(0, folder)
            sys.dont_write_bytecode = True
            import chains
            import chains.walk
            return chains
    return None

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
UNSIGNED = ("SHA256SUMS", "SHA256SUMS.minisig", "SHA256SUMS.sig")
JOURNALS = ("tickets", "ticket_lines", "payments", "closures", "jet", "duplicates")
FULL_CHAIN_MAX = 200  # chains this long or shorter: every signature is verified
HEAD = TAIL = 50  # longer chains: their first and last records, plus a random sample
DEFAULT_SAMPLE = 300
MAX_FINDINGS_PER_CHECK = 200  # a wholly broken journal must not drown the report
BATCH = 64  # signatures verified together (one modular inversion per batch)
PROGRESS_SECONDS = 5.0
SECONDS_PER_SIGNATURE_FAST = 0.00008  # with cryptography (OpenSSL), Python's own overhead included
SECONDS_PER_SIGNATURE = 0.0008  # measured 0.3 to 0.7 ms on a 2-core PC (Python 3.11); old PCs are slower

USAGE = "Usage : python3 verify.py [DOSSIER_DU_PAQUET] [--sample N] [--seed S] [--python-seul] [--secret-file F]"
SECRET_VARIABLE = "COFFRE_CHAIN_SECRET"

LABELS = {"register": "caisse", "number": "numéro", "seq": "séquence", "kind": "type",
          "ticket_number": "ticket", "period_start": "début", "chain": "chaîne", "sequence": "séquence",
          "reference": "référence"}


# --------------------------------------------------------------------------------------
# Ed25519 signature verification, pure Python, after RFC 8032 (sections 5.1.3 to 5.1.7).
# Points are kept in extended homogeneous coordinates (X:Y:Z:T), x = X/Z, y = Y/Z,
# x*y = T/Z. Scalar multiples of the base point B and of each till key come from tables
# of precomputed multiples (one addition per 8-bit window, no doubling), so a
# verification is about 64 point additions and a share of one modular inversion.
# --------------------------------------------------------------------------------------

_P = 2 ** 255 - 19
_L = 2 ** 252 + 27742317777372353535851937790883648493  # order of the base point
_D = -121665 * pow(121666, _P - 2, _P) % _P
_D2 = 2 * _D % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_IDENTITY = (0, 1, 1, 0)
_WINDOW = 8


def _recover_x(y, sign):
    """x from y and the sign bit (RFC 8032 5.1.3, steps 2 to 4); None if there is none."""
    if y >= _P:
        return None
    y2 = y * y % _P
    u = (y2 - 1) % _P
    v = (_D * y2 + 1) % _P
    v3 = v * v % _P * v % _P
    # x = u v^3 (u v^7)^((p-5)/8)
    x = u * v3 % _P * pow(u * v3 % _P * v3 % _P * v % _P, (_P - 5) // 8, _P) % _P
    vx2 = v * x % _P * x % _P
    if vx2 == u:
        pass
    elif vx2 == (-u) % _P:
        x = x * _SQRT_M1 % _P
    else:
        return None
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decode_point(data):
    """A point from its 32-byte encoding (RFC 8032 5.1.3); None if it is not a valid encoding."""
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


def _encode_affine(x, y):
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _encode_point(pt):
    """The 32-byte encoding of a point (RFC 8032 5.1.2)."""
    zi = pow(pt[2], _P - 2, _P)
    return _encode_affine(pt[0] * zi % _P, pt[1] * zi % _P)


def _inverses(values):
    """Modular inverses of nonzero values with one exponentiation (Montgomery's trick)."""
    n = len(values)
    prefix = [1] * n
    acc = 1
    for i in range(n):
        prefix[i] = acc
        acc = acc * values[i] % _P
    inv = pow(acc, _P - 2, _P)
    out = [0] * n
    for i in range(n - 1, -1, -1):
        out[i] = prefix[i] * inv % _P
        inv = inv * values[i] % _P
    return out


def _encode_points(points):
    """Encodings of many points, sharing one inversion; None for a point with Z = 0 (impossible on the curve)."""
    ok = [i for i, p in enumerate(points) if p[2] % _P]
    out = [None] * len(points)
    if ok:
        invs = _inverses([points[i][2] for i in ok])
        for i, zi in zip(ok, invs):
            out[i] = _encode_affine(points[i][0] * zi % _P, points[i][1] * zi % _P)
    return out


def _point_add(p, q):
    """Addition in extended coordinates (RFC 8032 5.1.4); complete, so it also doubles."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = t1 * _D2 % _P * t2 % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _point_double(p):
    """Doubling in extended coordinates (RFC 8032 5.1.4)."""
    x1, y1, z1, _ = p
    a = x1 * x1 % _P
    b = y1 * y1 % _P
    c = 2 * z1 * z1 % _P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1) % _P
    g = a - b
    f = c + g
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _point_neg(p):
    return ((-p[0]) % _P, p[1], p[2], (-p[3]) % _P)


def _scalar_mult(p, k):
    """[k]P by double-and-add (used for one-off verifications)."""
    q = _IDENTITY
    while k:
        if k & 1:
            q = _point_add(q, p)
        p = _point_double(p)
        k >>= 1
    return q


def _fixed_table(p):
    """For each 8-bit window i: j * 256^i * P for j = 1..255, in affine (y+x, y-x, 2d*x*y) form."""
    rows = []
    base = p
    for _ in range((256 + _WINDOW - 1) // _WINDOW):
        row = [base]
        for _ in range((1 << _WINDOW) - 2):
            row.append(_point_add(row[-1], base))
        rows.append(row)
        base = _point_add(row[-1], base)  # 2^8 * base
    invs = _inverses([q[2] for row in rows for q in row])
    table, k = [], 0
    for row in rows:
        out = []
        for q in row:
            x, y = q[0] * invs[k] % _P, q[1] * invs[k] % _P
            k += 1
            out.append(((y + x) % _P, (y - x) % _P, x * y % _P * _D2 % _P))
        table.append(out)
    return table


def _negated_table(table):
    """The table of -P from the table of P: (x, y) -> (-x, y)."""
    return [[(ymx, ypx, (-t) % _P) for (ypx, ymx, t) in row] for row in table]


def _table_mult(acc, table, k):
    """acc + [k]P with P's table: one mixed addition per nonzero 8-bit digit of k (k < 2^256)."""
    x1, y1, z1, t1 = acc
    mask = (1 << _WINDOW) - 1
    p = _P
    for row in table:
        digit = k & mask
        k >>= _WINDOW
        if digit:
            ypx, ymx, t2d = row[digit - 1]
            a = (y1 - x1) * ymx % p
            b = (y1 + x1) * ypx % p
            c = t1 * t2d % p
            d = 2 * z1
            e, f, g, h = b - a, d - c, d + c, b + a
            x1, y1, z1, t1 = e * f % p, g * h % p, f * g % p, e * h % p
    return (x1, y1, z1, t1)


_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = _recover_x(_BY, 0)
_B = (_BX, _BY, 1, _BX * _BY % _P)
_B_TABLE = []


def _base_table():
    if not _B_TABLE:
        _B_TABLE.append(_fixed_table(_B))
    return _B_TABLE[0]


def _challenge(r_bytes, public_key, message):
    """k = SHA-512(R || A || M) as a little-endian integer, mod L (RFC 8032 5.1.7 step 2)."""
    return int.from_bytes(hashlib.sha512(r_bytes + public_key + message).digest(), "little") % _L


def ed25519_verify(public_key, signature, message):
    """True if `signature` (64 bytes) is a valid Ed25519 signature of `message` under `public_key` (32 bytes).

    RFC 8032 5.1.7: A must decode (5.1.3), S must be below L, and [S]B = R + [k]A, checked as
    encode([S]B - [k]A) == R, the variant the RFC allows instead of the cofactor-8 equation
    (it also rejects an R that is not a canonical point encoding).
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode_point(public_key)
    if a is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = _challenge(signature[:32], public_key, message)
    sb = _table_mult(_IDENTITY, _base_table(), s)
    r = _point_add(sb, _point_neg(_scalar_mult(a, k)))
    return _encode_point(r) == signature[:32]


def _fast_backend():
    """OpenSSL's Ed25519 through the `cryptography` package, when the inspector's Python has it (about 20 times
    faster than the pure Python below, which is used otherwise or with --python-seul)."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except Exception:  # noqa: BLE001 - absent, too old, or broken: the pure Python does the work
        return None
    return Ed25519PublicKey, InvalidSignature


class Ed25519Keys:
    """The till's public keys; verifies batches of signatures, each against any of the keys."""

    def __init__(self, raw_keys, pure=False):
        # A key that is not a canonical point encoding (RFC 8032 5.1.3) verifies nothing, whichever engine is used:
        # OpenSSL would accept some non-canonical keys that the pure Python refuses.
        self.keys = [bytes(k) for k in raw_keys if len(k) == 32 and _decode_point(bytes(k)) is not None]
        self.tables = [None] * len(self.keys)
        backend = None if pure else _fast_backend()
        self.fast = None
        if backend is not None:
            try:
                self.fast = ([backend[0].from_public_bytes(k) for k in self.keys], backend[1])
            except Exception:  # noqa: BLE001 - a key OpenSSL refuses: the pure Python decides
                self.fast = None
        self.engine = "cryptography (OpenSSL)" if self.fast else "Python pur"

    def _verify_fast(self, items):
        keys, invalid = self.fast
        out = []
        for msg, sig in items:
            ok = False
            if len(sig) == 64 and int.from_bytes(sig[32:], "little") < _L:  # S below L, as RFC 8032 5.1.7 says
                for k in keys:
                    try:
                        k.verify(sig, msg)
                        ok = True
                        break
                    except invalid:
                        continue
            out.append(ok)
        return out

    def _table(self, i):
        if self.tables[i] is None:
            self.tables[i] = _negated_table(_fixed_table(_decode_point(self.keys[i])))
        return self.tables[i]

    def verify_many(self, items):
        """[(message, signature)] -> [bool], same checks as ed25519_verify."""
        if self.fast:
            return self._verify_fast(items)
        results = [False] * len(items)
        todo = [i for i, (_, sig) in enumerate(items)
                if len(sig) == 64 and int.from_bytes(sig[32:], "little") < _L]
        base = _base_table() if todo else None
        for ki, key in enumerate(self.keys):
            if not todo:
                break
            neg_a = self._table(ki)
            points = []
            for i in todo:
                msg, sig = items[i]
                acc = _table_mult(_IDENTITY, base, int.from_bytes(sig[32:], "little"))
                points.append(_table_mult(acc, neg_a, _challenge(sig[:32], key, msg)))
            for i, enc in zip(todo, _encode_points(points)):
                if enc is not None and enc == items[i][1][:32]:
                    results[i] = True
            todo = [i for i in todo if not results[i]]
        return results


# --------------------------------------------------------------------------------------
# Findings and output
# --------------------------------------------------------------------------------------


class Fatal(Exception):
    """A usage error: one sentence, exit 2."""


def say(text=""):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _setup_output():
    """Never fail on a console that cannot show an accented letter (old Windows, C locale)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        target = "utf-8" if enc in ("", "ascii", "ansix3.41968", "646", "usascii") else stream.encoding
        try:
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(encoding=target, errors="replace")
            elif hasattr(stream, "buffer"):
                setattr(sys, name, io.TextIOWrapper(stream.buffer, encoding=target, errors="replace",
                                                    line_buffering=True))
        except (AttributeError, ValueError, LookupError, io.UnsupportedOperation):
            pass


def _number(n):
    """12345 -> '12 345' (French thousands separator)."""
    return "{:,}".format(n).replace(",", " ")


def _seconds(s):
    return ("{:.1f}".format(s) if s < 10 else "{:.0f}".format(s)).replace(".", ",") + " s"


def _rate(bp):
    return ("{:g}".format(bp / 100.0)).replace(".", ",") + " %"


class Report:
    def __init__(self):
        self.findings = []
        self.per_check = {}
        self.truncated = []
        self.notes = []

    def add(self, where, check, message, record=None, line=None, file=None):
        key = (where, check)
        n = self.per_check.get(key, 0)
        self.per_check[key] = n + 1
        if n < MAX_FINDINGS_PER_CHECK:
            self.findings.append((where, check, record, message, line, file))
        elif n == MAX_FINDINGS_PER_CHECK:
            self.truncated.append(key)

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)

    def total(self):
        return sum(self.per_check.values())

    @staticmethod
    def sentence(finding):
        where, _, record, message, line, file = finding
        if line is not None and file == where:
            return "{}, ligne {} : {}".format(where, line, message)
        text = where
        if record:
            text += " [" + ", ".join("{} {}".format(LABELS.get(k, k), v) for k, v in record) + "]"
        text += " : " + message
        if line is not None and file:
            text += " ({}, ligne {})".format(file, line)
        return text


# --------------------------------------------------------------------------------------
# The package: where things are, reading the journals
# --------------------------------------------------------------------------------------

_INT = re.compile(r"-?[0-9]+\Z")


def to_int(text):
    return int(text) if _INT.match(text) else None


def norm(text):
    """A key value: integers compare as numbers ('042' = '42'), anything else as text."""
    return int(text) if _INT.match(text) else text


def order_value(text):
    return (0, int(text)) if _INT.match(text) else (1, text)


class Journal:
    """One journal CSV (UTF-8, ';', header row), read as a stream as many times as needed."""

    def __init__(self, name, path, shown, report):
        self.name, self.path, self.shown, self.report = name, path, shown, report
        self.header = None
        self.count = None
        self.unusable = False
        self._reported = set()

    def _problem(self, key, message, line=None):
        if key not in self._reported:
            self._reported.add(key)
            self.report.add(self.shown, "format", message, line=line, file=self.shown if line else None)

    def index(self, fields):
        """{field: column} for the fields a check needs, or None (reported) if the file cannot give them."""
        if self.unusable:
            return None
        if self.header is None:
            try:
                with open(self.path, "r", encoding="utf-8-sig", newline="") as f:
                    self.header = next(csv.reader(f, delimiter=";", strict=True), None) or []
            except (OSError, UnicodeDecodeError, csv.Error) as err:
                self.unusable = True
                self._problem("open", "illisible ({}).".format(_why(err)))
                return None
            dups = sorted(set(h for h in self.header if self.header.count(h) > 1))
            if dups:
                self.unusable = True
                self._problem("dups", "en-tête inattendu, champ(s) en double : {}.".format(", ".join(dups)))
                return None
        missing = [f for f in fields if f and f not in self.header]
        if missing:
            self._problem("missing", "en-tête inattendu, champ(s) absent(s) : {}.".format(
                ", ".join(sorted(set(missing)))))
            return None
        return dict((f, self.header.index(f)) for f in fields if f)

    def rows(self):
        """(line number, row) for each well-formed record; malformed ones are reported once and skipped."""
        if self.unusable or (self.header is None and self.index([]) is None):
            return
        width = len(self.header)
        n = 0
        line = 1
        try:
            with open(self.path, "r", encoding="utf-8-sig", newline="") as f:
                reader = csv.reader(f, delimiter=";", strict=True)
                next(reader, None)
                for row in reader:
                    line = reader.line_num
                    if len(row) != width:
                        if row:
                            self._problem(("width", line), "{} champ(s) au lieu de {}.".format(len(row), width), line)
                        continue
                    n += 1
                    yield line, row
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            self._problem(("read", line), "illisible après la ligne {} ({}).".format(line, _why(err)))
            return
        self.count = n


def _why(err):
    if isinstance(err, UnicodeDecodeError):
        return "texte qui n'est pas de l'UTF-8"
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return str(err)


class Package:
    def __init__(self, root, report):
        self.root = root
        self.report = report
        self.journal_dir = root
        if not os.path.isfile(os.path.join(root, "tickets.csv")) and os.path.isdir(os.path.join(root, "journals")):
            self.journal_dir = os.path.join(root, "journals")
        self.journals = {}

    def shown(self, path):
        rel = os.path.relpath(path, self.root)
        return rel.replace(os.sep, "/")

    def find(self, name):
        for d in (self.root, self.journal_dir, os.path.join(self.root, "keys")):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                return p
        return None

    def journal(self, name):
        """The Journal for a name, or None (reported once) when its CSV is missing."""
        if name not in self.journals:
            path = os.path.join(self.journal_dir, name + ".csv")
            if os.path.isfile(path):
                self.journals[name] = Journal(name, path, self.shown(path), self.report)
            else:
                self.journals[name] = None
                self.report.add(self.shown(path), "format", "absent du paquet : ce journal ne peut pas être contrôlé.")
        return self.journals[name]

    def load_json(self, name, required=True):
        path = self.find(name)
        if path is None:
            if required:
                self.report.add(name, "format", "fichier absent du paquet.")
            return None
        try:
            with open(path, "r", encoding="utf-8-sig") as f:
                return json.load(f)
        except (OSError, ValueError) as err:
            self.report.add(self.shown(path), "format", "illisible ({}).".format(_why(err) if isinstance(err, OSError)
                                                                                else "JSON invalide"))
            return None


# --------------------------------------------------------------------------------------
# 1. SHA256SUMS
# --------------------------------------------------------------------------------------

_SUM_LINE = re.compile(r"(\\?)([0-9a-fA-F]{64}) [ *](.+)\Z")


def _unescape(name):
    out, i = [], 0
    while i < len(name):
        c = name[i]
        if c == "\\" and i + 1 < len(name):
            out.append({"\\": "\\", "n": "\n", "r": "\r"}.get(name[i + 1], name[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def check_sums(pkg, report):
    """Returns (files listed, files that match)."""
    root = pkg.root
    path = os.path.join(root, "SHA256SUMS")
    if not os.path.isfile(path):
        report.add("SHA256SUMS", "sha256", "fichier absent : l'intégrité du paquet ne peut pas être contrôlée.")
        return 0, 0
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        report.add("SHA256SUMS", "sha256", "illisible ({}).".format(_why(err)))
        return 0, 0
    listed = {}
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        m = _SUM_LINE.match(line)
        if not m:
            report.add("SHA256SUMS", "sha256", "ligne {} illisible (attendu : empreinte, deux espaces, chemin).".format(n))
            continue
        name = _unescape(m.group(3)) if m.group(1) else m.group(3)
        parts = re.split(r"[\\/]", name)
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
            report.add("SHA256SUMS", "sha256", "ligne {} : chemin refusé (absolu ou avec « .. ») : {}".format(n, name))
            continue
        parts = [p for p in parts if p not in ("", ".")]
        if not parts:
            report.add("SHA256SUMS", "sha256", "ligne {} : chemin vide.".format(n))
            continue
        rel = "/".join(parts)
        digest = m.group(2).lower()
        if rel in listed:
            if listed[rel] != digest:
                report.add(rel, "sha256", "listé deux fois dans SHA256SUMS avec deux empreintes différentes.")
            continue
        listed[rel] = digest
    real_root = os.path.realpath(root)
    good = 0
    for rel, digest in listed.items():
        full = os.path.join(root, *rel.split("/"))
        real = os.path.realpath(full)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            report.add(rel, "sha256", "chemin refusé : il sort du dossier du paquet.")
            continue
        if not os.path.isfile(full):
            report.add(rel, "sha256", "listé dans SHA256SUMS mais absent du paquet.")
            continue
        try:
            actual = _sha256(full)
        except OSError as err:
            report.add(rel, "sha256", "illisible ({}).".format(_why(err)))
            continue
        if actual != digest:
            report.add(rel, "sha256", "empreinte SHA-256 différente de celle de SHA256SUMS : le fichier a été modifié.")
        else:
            good += 1
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, fn), root).replace(os.sep, "/")
            if rel not in listed and rel not in UNSIGNED:
                report.add(rel, "sha256", "présent dans le paquet mais absent de SHA256SUMS (fichier ajouté).")
    return len(listed), good


# --------------------------------------------------------------------------------------
# 2. Chains and signatures
# --------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([A-Za-z_0-9]+)(!e)?\}")


def compile_template(template):
    """[literal text | (field, escape)] and the fields used."""
    parts, fields, pos = [], [], 0
    for m in _PLACEHOLDER.finditer(template):
        if m.start() > pos:
            parts.append(template[pos:m.start()])
        parts.append((m.group(1), bool(m.group(2))))
        fields.append(m.group(1))
        pos = m.end()
    if pos < len(template):
        parts.append(template[pos:])
    return parts, fields


def render_payload(parts, idx, row):
    out = []
    for p in parts:
        if isinstance(p, tuple):
            v = row[idx[p[0]]]
            if p[1]:
                v = v.replace("\\", "\\\\").replace(",", "\\,")
            out.append(v)
        else:
            out.append(p)
    return "".join(out)


_B64URL = re.compile(r"[A-Za-z0-9_-]*\Z")


def decode_signature(text):
    if not _B64URL.match(text) or len(text) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 64 else None


def sample_positions(n, extra, seed_text, everything):
    """Positions (0-based, in chain order) whose signature is verified; None means all of them."""
    if everything or n <= FULL_CHAIN_MAX:
        return None
    chosen = set(range(HEAD)) | set(range(n - TAIL, n))
    middle = n - HEAD - TAIL
    rnd = random.Random(seed_text)
    chosen.update(HEAD + i for i in rnd.sample(range(middle), min(extra, middle)))
    return chosen


class Progress:
    def __init__(self, total, say):
        self.total, self.say = total, say
        self.done = 0
        self.last = time.time()

    def step(self, n, journal):
        self.done += n
        now = time.time()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self.say("     … {} : {} signatures vérifiées sur {} prévues".format(journal, _number(self.done),
                                                                              _number(self.total)))


class SignatureBatch:
    """Signatures verified in batches. With OpenSSL, which lets go of Python's lock while it verifies, the batches go
    to two threads while this one goes on reading the CSV; their verdicts are taken in order, so the report is the
    same whatever the timing."""

    def __init__(self, ctx, journal, stats):
        self.ctx, self.journal, self.stats = ctx, journal, stats
        self.pending = []
        self.running = []  # (future, batch), oldest first
        self.pool = _signature_pool(ctx) if ctx.keys.fast else None

    def add(self, payload, signature_text, record, line, shown):
        raw = decode_signature(signature_text)
        if raw is None:
            self.stats["checked"] += 1
            self.ctx.report.add(self.journal, "signature", "signature illisible (base64url de 64 octets attendu).",
                                record, line, shown)
            return
        self.pending.append((payload.encode("utf-8"), raw, record, line, shown))
        if len(self.pending) >= (BATCH * 8 if self.pool else BATCH):
            self.flush()

    def flush(self):
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        items = [(m, s) for m, s, _, _, _ in batch]
        if self.pool is None:
            self._report(self.ctx.keys.verify_many(items), batch)
            return
        self.running.append((self.pool.submit(self.ctx.keys.verify_many, items), batch))
        while len(self.running) > 4:
            self._take()

    def finish(self):
        self.flush()
        while self.running:
            self._take()

    def _take(self):
        future, batch = self.running.pop(0)
        self._report(future.result(), batch)

    def _report(self, results, batch):
        for ok, (_, _, record, line, shown) in zip(results, batch):
            if not ok:
                self.ctx.report.add(self.journal, "signature",
                                    "signature invalide : le contenu ne correspond pas à la signature "
                                    "(enregistrement modifié après sa signature).", record, line, shown)
        self.stats["checked"] += len(batch)
        self.ctx.progress.step(len(batch), self.journal)


def _signature_pool(ctx):
    if getattr(ctx, "sig_pool", None) is None:
        try:
            from concurrent.futures import ThreadPoolExecutor
            ctx.sig_pool = ThreadPoolExecutor(2)
        except Exception:  # noqa: BLE001 - no threads here: verified in this one
            ctx.sig_pool = False
    return ctx.sig_pool or None


class ChainPlan:
    """What pass 1 learnt about one signed journal."""

    def __init__(self, name, journal, idx, parts, key_fields, rec_fields, order_field):
        self.name, self.journal, self.idx, self.parts = name, journal, idx, parts
        self.key_fields, self.rec_fields, self.order_field = key_fields, rec_fields, order_field
        self.counts = {}
        self.in_order = True
        self.plans = {}
        self.planned = 0


def plan_chain(ctx, name, recipe):
    j = ctx.pkg.journal(name)
    if j is None:
        return None
    if not isinstance(recipe, dict) or not isinstance(recipe.get("payload"), str):
        ctx.report.add("recipes.json", "format", "recette de la chaîne {} illisible.".format(name))
        return None
    key_fields = list(recipe.get("chain_key") or [])
    order_field = recipe.get("order_field") or None
    parts, fields = compile_template(recipe["payload"])
    numbering = (ctx.recipes.get("numbering") or {}).get(name) or {}
    if order_field and order_field == numbering.get("field") and \
            [f for f in (numbering.get("key") or []) if f not in key_fields]:
        # numbered within a finer key than the chain (closures: per register and kind, chained per
        # register): the number alone does not order the chain; the file's order, which is the
        # export's chain order, is the order, and any record out of place breaks a link
        order_field = None
    rec_fields = []
    for f in key_fields + list(numbering.get("key") or []) + [numbering.get("field") or order_field]:
        if f and f not in rec_fields:
            rec_fields.append(f)
    idx = j.index(key_fields + [order_field] + fields + rec_fields + ["previous_signature", "signature"])
    if idx is None:
        return None
    plan = ChainPlan(name, j, idx, parts, key_fields, rec_fields, order_field)
    key_cols = [idx[f] for f in key_fields]
    order_col = idx[order_field] if order_field else None
    last = {}
    for _, row in j.rows():
        ck = tuple(row[i] for i in key_cols)
        plan.counts[ck] = plan.counts.get(ck, 0) + 1
        if order_col is not None:
            ov = order_value(row[order_col])
            pv = last.get(ck)
            if pv is not None and not ov > pv:
                plan.in_order = False
            last[ck] = ov
    for ck, n in plan.counts.items():
        chosen = sample_positions(n, ctx.sample, "{}/{}/{}".format(ctx.seed, name, "/".join(ck)), ctx.all_signatures)
        plan.plans[ck] = chosen
        plan.planned += n if chosen is None else len(chosen)
    return plan


BROKEN_LINK = ("previous_signature n'est pas la signature de l'enregistrement précédent : un enregistrement a été "
               "supprimé, inséré ou réécrit ici.")
DANGLING_FIRST = "premier enregistrement de sa chaîne, mais previous_signature renvoie à un enregistrement absent."


def check_chain(ctx, plan):
    """Links and signatures of one journal; returns {records, chains, planned, checked}."""
    name, j, idx = plan.name, plan.journal, plan.idx
    stats = {"records": sum(plan.counts.values()), "chains": len(plan.counts), "planned": plan.planned, "checked": 0}
    key_cols = [idx[f] for f in plan.key_fields]
    rec_cols = [(f, idx[f]) for f in plan.rec_fields]
    prev_col, sig_col = idx["previous_signature"], idx["signature"]
    order_col = idx[plan.order_field] if plan.order_field else None
    batch = SignatureBatch(ctx, name, stats) if ctx.keys is not None else None
    if batch is None:
        stats["planned"] = 0

    def record(row):
        return [(f, row[c]) for f, c in rec_cols]

    def link(position, prev, expected, rec, line):
        """The record at `position` of its chain points to the one before it (the first: to nothing)."""
        if position > 0:
            if prev != expected:
                ctx.report.add(name, "chain_link", BROKEN_LINK, rec, line, j.shown)
        elif ctx.full_history and prev != "":
            # a package of a period starts in the middle of each chain: its first link is not checkable
            ctx.report.add(name, "chain_link", DANGLING_FIRST, rec, line, j.shown)

    if plan.in_order or order_col is None:
        # the usual case: the file lists each chain in its order; one more streaming pass
        position, last_sig = {}, {}
        for line, row in j.rows():
            ck = tuple(row[i] for i in key_cols)
            i = position.get(ck, 0)
            position[ck] = i + 1
            link(i, row[prev_col], last_sig.get(ck), record(row), line)
            last_sig[ck] = row[sig_col]
            chosen = plan.plans.get(ck)
            if batch is not None and (chosen is None or i in chosen):
                batch.add(render_payload(plan.parts, idx, row), row[sig_col], record(row), line, j.shown)
    else:
        # the file is not in chain order: sort each chain (links only), then verify in a last pass
        chains = {}
        for seq, (line, row) in enumerate(j.rows()):
            ck = tuple(row[i] for i in key_cols)
            chains.setdefault(ck, []).append((order_value(row[order_col]), seq, line, row[prev_col], row[sig_col],
                                              record(row)))
        to_verify = set()
        file_order = False
        links_before = ctx.report.per_check.get((name, "chain_link"), 0)
        for ck, items in chains.items():
            # the order field may not order a chain on its own (closures are numbered per register
            # and kind but chained per register): then the file's order, the export's chain order, is kept
            if len(set(x[0] for x in items)) == len(items):
                items.sort(key=lambda x: (x[0], x[1]))
            else:
                file_order = True
            chosen = plan.plans.get(ck)
            for i, (_, seq, line, prev, sig, rec) in enumerate(items):
                link(i, prev, items[i - 1][4] if i else None, rec, line)
                if chosen is None or i in chosen:
                    to_verify.add(seq)
        chains = None
        if file_order and ctx.report.per_check.get((name, "chain_link"), 0) > links_before:
            ctx.report.note("{} : « {} » se répète dans une chaîne ; ses liens ont été suivis dans l'ordre du "
                            "fichier.".format(name, plan.order_field))
        if batch is not None:
            for seq, (line, row) in enumerate(j.rows()):
                if seq in to_verify:
                    batch.add(render_payload(plan.parts, idx, row), row[sig_col], record(row), line, j.shown)
    if batch is not None:
        batch.finish()
    return stats


# --------------------------------------------------------------------------------------
# 3. Numbering
# --------------------------------------------------------------------------------------


SOURCE_WORDS = {
    "altered": "son sceau ({recipe}) ne correspond pas à son contenu et au sceau de l'enregistrement précédent : "
               "l'enregistrement a été modifié après son scellement par la caisse",
    "unlinked": "l'enregistrement auquel il est lié (séquence {before}) est absent : son sceau ne peut pas être "
                "prouvé",
    "duplicate": "son numéro de séquence est employé deux fois",
    "content": "son contenu n'a pas la valeur « {field} », que la recette {recipe} hache",
    "recipe": "il nomme la recette « {name} », inconnue",
    "unmatched": "aucun de ses {count} enregistrement(s) scellé(s) par {name} ne correspond à son sceau : le secret "
                 "de la caisse, ou le fuseau horaire de son serveur, n'est pas le bon, à moins que tous aient été "
                 "modifiés",
    "downgrade": "lui et les {more} enregistrement(s) suivant(s) sont scellés d'une façon plus ancienne que celle "
                 "d'un enregistrement qui les précède ({name} d'abord) : une caisse ne revient jamais en arrière, "
                 "alors qu'un faussaire sans le secret de la caisse le ferait",
    "timezone": "les sceaux ({name}) de {count} enregistrement(s), à partir de celui-ci, ne tiennent qu'avec leurs "
                "heures décalées d'une heure : le serveur de la caisse n'est pas à l'heure du magasin, au moins une "
                "partie de l'année",
}


def check_source_chain(ctx, name, spec, secret):
    """The till's own chain, sealed by a recipe of chains/ (Odoo, Dolibarr): every seal recomputed."""
    chains = _chains_module()
    if chains is None:
        ctx.report.add(name, "format", "le dossier chains/ est absent du paquet : la chaîne de la caisse ne peut pas "
                                       "être recalculée.")
        return None
    journal = ctx.pkg.journal(name)
    fields = ["sequence", "reference", "event", "recipe", "content", "hash"] + list(spec["key"])
    idx = journal.index(fields) if journal is not None else None
    if idx is not None and "object_id" in (journal.header or []):
        idx["object_id"] = journal.header.index("object_id")
    if idx is None:
        return None
    fixed = chains.recipe(spec["recipe"]) if spec.get("recipe") else None
    if spec.get("recipe") and fixed is None:
        ctx.report.add("recipes.json", "format", "{} : la recette « {} » est inconnue de chains/.".format(
            name, spec["recipe"]))
        return None

    def recipe_of(rec):
        return fixed or chains.recipe(rec.get("recipe"))

    stats = {"records": 0, "chains": 0, "sealed": 0, "recipes": set()}
    claims = SealedClaims()
    seals = spec.get("seals") if isinstance(spec.get("seals"), dict) else {}
    sealing = set(e for e in seals.get("events") or [] if isinstance(e, str))
    sealed_ids = set()

    def records():
        for line, row in journal.rows():
            rec = {"sequence": to_int(row[idx["sequence"]]), "reference": row[idx["reference"]],
                   "recipe": row[idx["recipe"]], "hash": row[idx["hash"]], "line": line,
                   "object_id": to_int(row[idx["object_id"]]) if "object_id" in idx else None}
            for k in spec["key"]:
                rec[k] = row[idx[k]]
            try:
                rec["content"] = json.loads(row[idx["content"]])
            except ValueError:
                rec["content"] = None
            stats["records"] += 1
            stats["recipes"].add(fixed.name if fixed else rec["recipe"])
            said = getattr(recipe_of(rec), "claims", None)
            if said is not None:
                claims.add(rec, [(k, rec.get(k)) for k in spec["key"]], said(rec))
            if sealing and rec["content"] is not None and row[idx["event"]] in sealing and rec["object_id"] is not None:
                sealed_ids.add(rec["object_id"])
            yield rec

    # Chain by chain, streamed: the walker looks back a few records only.
    for _key, chain in itertools.groupby(records(), key=lambda r: tuple(r[k] for k in spec["key"])):
        stats["chains"] += 1
        walked = {}
        for p in chains.walk.walk(chain, recipe_of, spec["previous"], secret, ctx.full_history, walked):
            _source_problem(ctx, name, spec, p)
        stats["sealed"] += walked["sealed"]
    claims.check(ctx, name)
    if sealing:
        _unsealed(ctx, seals.get("journal", "tickets"), sealed_ids, sorted(sealing))
    stats["recipes"] = ", ".join(sorted(stats["recipes"])) or "—"
    return stats


class SealedClaims:
    """What the till's sealed records say of its tables (a recipe's claims: Dolibarr's sealed invoices), held to
    the journals of the package: an invoice edited or deleted behind the log is seen only so."""

    def __init__(self):
        self.values = {}  # (journal, key fields) -> {key values: [(field, value, record)]}
        self.counts = {}  # (journal, key field) -> {key value: (count, record)}

    def add(self, rec, chain, claims):
        named = chain + [("sequence", rec.get("sequence"))] + (
            [("reference", rec["reference"])] if rec.get("reference") else [])
        for journal, key, field, value in claims:
            names = tuple(k for k, _ in key)
            values = tuple(norm(str(v)) for _, v in key)
            if field == "#rows":
                self.counts.setdefault((journal, names), {})[values] = (value, named, rec.get("line"))
            else:
                self.values.setdefault((journal, names), {}).setdefault(values, []).append(
                    (field, value, named, rec.get("line")))

    def check(self, ctx, name):
        shown = ctx.pkg.journals[name].shown if ctx.pkg.journals.get(name) else None
        for journal in sorted(set(j for j, _ in list(self.values) + list(self.counts))):
            j = ctx.pkg.journal(journal)
            if j is None:
                continue
            groups = [(names, claims) for (jn, names), claims in self.values.items() if jn == journal]
            counts = [(names, claims) for (jn, names), claims in self.counts.items() if jn == journal]
            wanted = set(f for names, _ in groups + counts for f in names)
            wanted |= set(f for _, claims in groups for entries in claims.values() for f, _, _, _ in entries)
            idx = j.index(sorted(wanted))
            if idx is None:
                continue
            seen = dict((names, set()) for names, _ in groups)
            rows_per = dict((names, {}) for names, _ in counts)
            for _line, row in j.rows():
                for names, claims in groups:
                    key = tuple(norm(row[idx[f]]) for f in names)
                    for field, value, named, line in claims.get(key, ()):
                        seen[names].add(key)
                        live = _number_or_text(row[idx[field]])
                        if not _same_value(value, live):
                            if isinstance(value, float) and isinstance(live, int):
                                live = float(live)
                            ctx.report.add(name, "source_sealed", "il scelle {} {} pour l'enregistrement {} {} ; les "
                                           "tables de la caisse contiennent maintenant {} : modifié après "
                                           "scellement".format(field, value, journal, _key_text(names, key), live),
                                           record=named, line=line, file=shown)
                for names, claims in counts:
                    key = tuple(norm(row[idx[f]]) for f in names)
                    if key in claims:
                        rows_per[names][key] = rows_per[names].get(key, 0) + 1
            for names, claims in counts:
                for key, (value, named, line) in sorted(claims.items(), key=lambda kv: repr(kv[0])):
                    live = rows_per[names].get(key, 0)
                    if live != value:
                        ctx.report.add(name, "source_sealed", "il scelle {} enregistrement(s) {} de {} ; les tables "
                                       "de la caisse en contiennent maintenant {} : ajout ou suppression après "
                                       "scellement".format(value, journal, _key_text(names, key), live),
                                       record=named, line=line, file=shown)
            counted = set(names for names, _ in counts)
            for names, claims in groups:
                for key, entries in sorted(claims.items(), key=lambda kv: repr(kv[0])):
                    if key in seen[names]:
                        continue
                    if len(names) > 1 and names[:1] in counted:
                        continue  # a line that is gone is said by the count of lines
                    _f, _v, named, line = entries[0]
                    ctx.report.add(name, "source_sealed", "il scelle l'enregistrement {} {}, qui n'est plus dans les "
                                   "tables de la caisse : supprimé après scellement".format(
                                       journal, _key_text(names, key)), record=named, line=line, file=shown)


def _number_or_text(text):
    if _INT.match(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def _same_value(sealed, live):
    if isinstance(sealed, (int, float)) and isinstance(live, (int, float)):
        return abs(sealed - live) < 1e-9
    return str(sealed) == str(live)


def _key_text(names, values):
    return ", ".join("{} {}".format(n, v) for n, v in zip(names, values))


def _unsealed(ctx, journal, sealed_ids, events):
    """Each ticket has a record of a sealing event of the till's own chain naming it."""
    j = ctx.pkg.journal(journal)
    idx = j.index(["source_id", "register", "number"]) if j is not None else None
    if idx is None:
        return
    for line, row in j.rows():
        if to_int(row[idx["source_id"]]) not in sealed_ids:
            ctx.report.add(journal, "source_unsealed", "aucun enregistrement de la chaîne de la caisse ne le scelle "
                           "({}) : son enregistrement scellé a été supprimé, ou il a été ajouté sans enregistrement "
                           "scellé".format(", ".join(events)),
                           record=[("register", row[idx["register"]]), ("number", row[idx["number"]])],
                           line=line, file=j.shown)


def chains_walk_check(kind):
    return _chains_module().walk.CHECKS[kind]


def _source_problem(ctx, name, spec, p):
    rec = p.record or {}
    record = [(k, rec.get(k)) for k in spec["key"]] + [("sequence", rec.get("sequence"))]
    if rec.get("reference"):
        record.append(("reference", rec["reference"]))
    recipe = rec.get("recipe")
    if p.kind == "missing":
        record = [(k, v) for k, v in record if k != "reference"]
        record[-1] = ("sequence", p.first)
        numbers = str(p.first) if p.first == p.last else "{} à {}".format(p.first, p.last)
        message = ("numéro(s) de séquence {} absent(s) avant {} : des enregistrements scellés ont été "
                   "supprimés".format(numbers, rec.get("sequence")))
    elif p.kind == "secret":
        record = [(k, rec.get(k)) for k in spec["key"]]
        message = ("{} enregistrement(s) scellé(s) avec le secret de la caisse ({}), qui n'a pas été donné : non "
                   "vérifié(s) (--secret-file FICHIER ou {})".format(p.count, recipe, SECRET_VARIABLE))
    else:
        before = (rec.get("sequence") or 0) - 1
        message = SOURCE_WORDS[p.kind].format(recipe=recipe, before=before, field=p.field, name=p.name,
                                              count=p.count, more=(p.count or 1) - 1)
        if p.kind == "altered" and spec.get("previous") == "order":
            message += ", ou un enregistrement qui le précède a été supprimé"
    ctx.report.add(name, chains_walk_check(p.kind), message, record=record, line=rec.get("line"),
                   file=ctx.pkg.journals[name].shown if ctx.pkg.journals.get(name) else None)


def check_numbering(ctx, name, spec):
    """Returns how many numbers were checked, or None."""
    j = ctx.pkg.journal(name)
    if j is None or not isinstance(spec, dict) or not spec.get("field"):
        return None
    key_fields, field = list(spec.get("key") or []), spec["field"]
    idx = j.index(key_fields + [field])
    if idx is None:
        return None
    key_cols, col = [idx[f] for f in key_fields], idx[field]
    groups = {}
    n = 0
    for line, row in j.rows():
        number = to_int(row[col])
        key = tuple(row[i] for i in key_cols)
        if number is None:
            ctx.report.add(name, "format", "numéro illisible « {} ».".format(row[col]),
                           list(zip(key_fields, key)), line, j.shown)
            continue
        groups.setdefault(key, []).append(number)
        n += 1
    for key, numbers in groups.items():
        numbers.sort()
        rec = list(zip(key_fields, key))
        first = numbers[0]
        if ctx.full_history and first != 1:
            ctx.report.add(name, "numbering_gap", "la numérotation commence à {} : {} manquant(s).".format(
                first, "numéro 1" if first == 2 else "numéros 1 à {}".format(first - 1)), rec + [(field, first)])
        for prev, cur in zip(numbers, numbers[1:]):
            if cur == prev:
                ctx.report.add(name, "numbering_duplicate", "numéro {} utilisé deux fois.".format(cur),
                               rec + [(field, cur)])
            elif cur - prev != 1:
                if cur - prev == 2:
                    text = "numéro {} manquant entre {} et {}.".format(prev + 1, prev, cur)
                else:
                    text = "numéros {} à {} manquants entre {} et {}.".format(prev + 1, cur - 1, prev, cur)
                ctx.report.add(name, "numbering_gap", text, rec + [(field, prev + 1)])
    return n


# --------------------------------------------------------------------------------------
# 4. Totals
# --------------------------------------------------------------------------------------


def _ints(ctx, journal, row, cols, record, line):
    """The integer values of some cells; a cell that is not an integer is reported and gives None."""
    out = []
    for f, c in cols:
        v = row[c]
        n = to_int(v)
        if n is None and v != "" and (journal.name, line, f) not in ctx.bad_cells:
            ctx.bad_cells.add((journal.name, line, f))
            ctx.report.add(journal.name, "format", "valeur non entière « {} » dans {}.".format(v, f),
                           record, line, journal.shown)
        out.append(n)
    return out


def _same(a, b):
    return a is not None and b is not None and a == b


def _show(v):
    return "vide" if v is None else str(v)


def check_digests(ctx):
    """Each ticket's lines and payments against the digests its signature covers (recipes' digests): a line or a
    payment changed in the CSV after export no longer gives the digest the till signed. Returns the rules run."""
    spec = ctx.recipes.get("digests") if isinstance(ctx.recipes.get("digests"), dict) else {}
    cc = ctx.recipes.get("closure_checks") if isinstance(ctx.recipes.get("closure_checks"), dict) else {}
    tj = ctx.pkg.journal(cc.get("tickets", "tickets"))
    ran = 0
    empty = hashlib.sha256(b"").hexdigest()
    for field, d in sorted(spec.items()):
        if not isinstance(d, dict) or tj is None:
            continue
        j = ctx.pkg.journal(d.get("journal", ""))
        parts, fields = compile_template(d.get("part") or "")
        key = list(d.get("ticket_key") or [])
        idx = j.index(sorted(set(key + fields + [d.get("order")]))) if j is not None and len(key) == 2 else None
        tidx = tj.index(["register", "number", field]) if idx is not None else None
        if tidx is None:
            continue
        ran += 1
        digests, scattered = {}, set()
        current, pending = None, []

        def close(k, items):
            if k is None:
                return
            if k in digests:
                scattered.add(k)  # the rows of one ticket must follow each other, as Coffre writes them
            items.sort(key=lambda x: x[0])
            digests[k] = fiscal_rules.digest([t for _, t in items])

        for _, row in j.rows():
            k = (norm(row[idx[key[0]]]), norm(row[idx[key[1]]]))
            if k != current:
                close(current, pending)
                current, pending = k, []
            pending.append((order_value(row[idx[d["order"]]]), render_payload(parts, idx, row)))
        close(current, pending)
        for line, row in tj.rows():
            k = (norm(row[tidx["register"]]), norm(row[tidx["number"]]))
            rec = [("register", row[tidx["register"]]), ("number", row[tidx["number"]])]
            if k in scattered:
                ctx.report.add(tj.name, field, "les enregistrements de {} de ce ticket ne se suivent pas : son "
                               "empreinte ne peut pas être recalculée.".format(j.name), rec, line, tj.shown)
            elif row[tidx[field]] != digests.get(k, empty):
                ctx.report.add(tj.name, field, "l'empreinte signée ({}) n'est pas celle de ses enregistrements de {} "
                               "dans le paquet : ils ont été modifiés après l'export.".format(field, j.name),
                               rec, line, tj.shown)
    return ran


def check_means(ctx):
    """Each closure's payments per means (recipes' means_checks) against the payments of the counted tickets of its
    business days, or for a monthly or yearly closure against its daily ones; as pipeline/journals/means.py.
    Returns the rules run (0 or 1)."""
    R = ctx.recipes
    spec, pc, cc = R.get("means_checks"), R.get("payment_checks"), R.get("closure_checks")
    if not all(isinstance(x, dict) for x in (spec, pc, cc)):
        return 0
    tj, pj, cj = (ctx.pkg.journal(n) for n in (cc.get("tickets", "tickets"), pc.get("journal", "payments"),
                                                spec.get("journal", "closures")))
    if tj is None or pj is None or cj is None or tj.index([]) is None:
        return 0
    day_field = "business_day" if "business_day" in tj.header else "timestamp"
    tidx = tj.index(["register", "number", "type", day_field])
    key = list(pc.get("ticket_key") or [])
    pidx = pj.index(key + ["means", pc.get("amount")]) if len(key) == 2 else None
    field = spec.get("field")
    cidx = cj.index(["register", "kind", "number", "period_start", "period_end", field])
    if tidx is None or pidx is None or cidx is None:
        return 0
    counted = set(R.get("counted_ticket_types") or [])
    tickets = {}
    for _, row in tj.rows():
        if row[tidx["type"]] in counted:
            tickets[(norm(row[tidx["register"]]), norm(row[tidx["number"]]))] = (
                row[tidx["register"]], row[tidx[day_field]][:10])
    sums = {}
    for line, row in pj.rows():
        where = tickets.get((norm(row[pidx[key[0]]]), norm(row[pidx[key[1]]])))
        amount = to_int(row[pidx[pc["amount"]]])
        if where is None or amount is None:
            continue
        k = (where[0], where[1], row[pidx["means"]])
        sums[k] = sums.get(k, 0) + amount
    del tickets
    by_day = {}  # register -> day -> means -> amount
    for (r, d, m), a in sums.items():
        by_day.setdefault(r, {}).setdefault(d, {})[m] = a
    daily = cc.get("daily", "daily")
    daily_means = [(row[cidx["register"]], row[cidx["period_start"]], fiscal_rules.parse_means(row[cidx[field]]) or {})
                   for _, row in cj.rows() if row[cidx["kind"]] == daily]
    for line, row in cj.rows():
        reg, kind, start, end = row[cidx["register"]], row[cidx["kind"]], row[cidx["period_start"]], row[cidx["period_end"]]
        got = fiscal_rules.parse_means(row[cidx[field]])
        want = {}
        if kind == daily:
            days = [start] if start == end else [d for d in by_day.get(reg, {}) if start <= d <= end]
            for d in days:
                for m, a in by_day.get(reg, {}).get(d, {}).items():
                    want[m] = want.get(m, 0) + a
            source = "les règlements de ses tickets"
        else:
            for r, d, means in daily_means:
                if r == reg and start <= d <= end:
                    for m, a in means.items():
                        want[m] = want.get(m, 0) + a
            source = "ses clôtures journalières"
        strip = lambda d: dict((m, a) for m, a in d.items() if a)  # noqa: E731
        if got is None or strip(got) != strip(want):
            ctx.report.add(cj.name, "closure_means", "règlements par moyen de paiement « {} » enregistrés, « {} » "
                           "d'après {}.".format(row[cidx[field]], fiscal_rules.means_text(strip(want)), source),
                           [("register", reg), ("kind", kind), ("number", row[cidx["number"]]),
                            ("period_start", start)], line, cj.shown)
    return 1


def check_records(ctx):
    """Record-level rules (recipes' record_checks), as pipeline/journals/records.py: each ticket and closure against
    its own per-rate breakdown, each line's arithmetic, orphan lines and payments, JET events of closures and
    duplicates. Returns the number of rules that could run."""
    R = ctx.recipes
    spec = R.get("record_checks") if isinstance(R.get("record_checks"), dict) else {}
    lc = R.get("line_checks") if isinstance(R.get("line_checks"), dict) else {}
    ran = 0
    bd = spec.get("breakdown")
    rates = list((lc.get("rates") or {}).values())
    if isinstance(bd, dict) and rates:
        for name in bd.get("journals") or []:
            j = ctx.pkg.journal(name)
            totals = [bd.get("total_ht"), bd.get("total_tva"), bd.get("total_ttc")]
            if j is None or j.index([]) is None:
                continue
            key = [k for k in ("register", "kind", "number") if k in j.header]
            idx = j.index(key + totals + [c for pair in rates for c in pair])
            if idx is None:
                continue
            ran += 1
            for line, row in j.rows():
                rec = [(k, row[idx[k]]) for k in key]
                t_ht, t_tva, t_ttc = _ints(ctx, j, row, [(f, idx[f]) for f in totals], rec, line)
                hts = _ints(ctx, j, row, [(pair[0], idx[pair[0]]) for pair in rates], rec, line)
                tvas = _ints(ctx, j, row, [(pair[1], idx[pair[1]]) for pair in rates], rec, line)
                if None in hts or None in tvas or None in (t_ht, t_tva, t_ttc):
                    continue
                said = []
                if t_ht != sum(hts):
                    said.append("total HT {}, ses montants HT par taux font {}".format(t_ht, sum(hts)))
                if t_tva != sum(tvas):
                    said.append("TVA totale {}, ses montants de TVA par taux font {}".format(t_tva, sum(tvas)))
                if not said and t_ttc != t_ht + t_tva:
                    said.append("total TTC {} différent du total HT {} plus la TVA {}".format(t_ttc, t_ht, t_tva))
                if said:
                    ctx.report.add(name, "breakdown", "différent de sa propre ventilation par taux : "
                                   + " ; ".join(said) + ".", rec, line, j.shown)
    la = spec.get("line_arithmetic")
    if isinstance(la, dict):
        j = ctx.pkg.journal(la.get("journal", "ticket_lines"))
        cols = [la.get(k) for k in ("quantity", "unit_price", "discount", "total")]
        key = [k for k in ("register", "ticket_number", "line_no")]
        idx = j.index(key + cols) if j is not None else None
        if idx is not None:
            ran += 1
            for line, row in j.rows():
                rec = [(k, row[idx[k]]) for k in key]
                u, d, t = _ints(ctx, j, row, [(f, idx[f]) for f in cols[1:]], rec, line)
                if None in (u, d, t):
                    continue
                want = fiscal_rules.line_total(_quantity(row[idx[cols[0]]]), u, d)
                if t != want:
                    ctx.report.add(j.name, "line_arithmetic", "total de ligne {}, mais quantité {} x prix unitaire {} - "
                                   "remise {} donne {}.".format(t, _show(row[idx[cols[0]]] or None), u, d, _show(want)),
                                   rec, line, j.shown)
    cc = R.get("closure_checks") if isinstance(R.get("closure_checks"), dict) else {}
    tj = ctx.pkg.journal(cc.get("tickets", "tickets"))
    tidx = tj.index(["register", "number"]) if tj is not None else None
    parts = [p for p in (R.get("line_checks"), R.get("payment_checks")) if isinstance(p, dict)]
    if tidx is not None and parts:
        known = set((norm(row[tidx["register"]]), norm(row[tidx["number"]])) for _, row in tj.rows())
        for part in parts:
            j = ctx.pkg.journal(part.get("journal", ""))
            k = list(part.get("ticket_key") or [])
            idx = j.index(k) if j is not None and len(k) == 2 else None
            if idx is None:
                continue
            src = j.header.index("ticket_source_id") if "ticket_source_id" in j.header else None
            ran += 1
            missing = {}
            for line, row in j.rows():
                key = (row[idx[k[0]]], row[idx[k[1]]], row[src] if src is not None and row[idx[k[1]]] == "" else "")
                if (norm(key[0]), norm(key[1])) not in known:
                    missing.setdefault(key, [0, line])[0] += 1
            what = "ligne(s)" if j.name == "ticket_lines" else "règlement(s)"
            for (reg, number, source), (n, line) in sorted(missing.items()):
                # A line whose ticket row is gone entirely has no register nor number: named by its ticket's id.
                rec = [("register", reg), ("ticket_number", number)] if number != "" else [("ticket_source_id", source)]
                ctx.report.add(j.name, "orphan", "{} {} d'un ticket absent du journal des tickets.".format(n, what),
                               rec, line, j.shown)
    jet = ctx.pkg.journal("jet") if spec.get("jet_events") else None  # a till without a JET has no links to it
    jidx = jet.index(["seq", "code", "register", "detail"]) if jet is not None else None
    for link in spec.get("jet_events") or []:
        j = ctx.pkg.journal(link.get("journal", "")) if isinstance(link, dict) else None
        if j is None or jidx is None:
            continue
        codes = link.get("codes")
        parts_, fields = compile_template(link.get("detail") or "")
        by_value = isinstance(codes, dict)
        rec_cols = [k for k in ("register", "kind", "number", "ticket_number") if j.index([]) is not None and k in j.header]
        idx = j.index(sorted(set(fields + rec_cols + ([link.get("code_field")] if by_value else []))))
        if idx is None:
            continue
        ran += 1
        all_codes = set(int(v) for v in (codes.values() if by_value else [codes]))
        events = set()
        for _, row in jet.rows():
            code = to_int(row[jidx["code"]])
            if code in all_codes:
                events.add((code, row[jidx["register"]], row[jidx["detail"]]))
        records = set()
        for line, row in j.rows():
            code = int(codes.get(row[idx[link["code_field"]]], -1)) if by_value else int(codes)
            item = (code, row[idx["register"]], render_payload(parts_, idx, row))
            records.add(item)
            if item not in events:
                ctx.report.add(j.name, "jet_missing", "aucun événement du JET (code {}) ne l'enregistre.".format(
                    " ou ".join(str(c) for c in sorted(all_codes))), [(k, row[idx[k]]) for k in rec_cols], line, j.shown)
        for line, row in jet.rows():
            code = to_int(row[jidx["code"]])
            if code in all_codes and (code, row[jidx["register"]], row[jidx["detail"]]) not in records:
                ctx.report.add("jet", "jet_orphan", "l'événement {} ({}) désigne un enregistrement absent du journal "
                               "{}.".format(code, row[jidx["detail"]], j.name), [("seq", row[jidx["seq"]])], line,
                               jet.shown)
    return ran


def _quantity(text):
    """A quantity cell as Coffre's check reads it: empty is absent (None), any other text the number SQLite's
    arithmetic finds in it (an integer, a real, Inf, a text the till held: 'abc' is 0)."""
    return fiscal_rules.text_number(text)


def check_totals(ctx):
    """Tickets against lines and payments, closures against tickets and each other, perpetual totals.

    Mirrors pipeline/journals/checks.py (check_closures, _check_lines_and_payments) on the CSVs.
    Returns {"tickets"|"lines"|"payments"|"closures": records read} for what could be checked.
    """
    R = ctx.recipes
    cc = R.get("closure_checks") if isinstance(R.get("closure_checks"), dict) else None
    lc = R.get("line_checks") if isinstance(R.get("line_checks"), dict) else None
    pc = R.get("payment_checks") if isinstance(R.get("payment_checks"), dict) else None
    counted = set(R.get("counted_ticket_types") or [])
    tname = (cc or {}).get("tickets", "tickets")
    numbering = (R.get("numbering") or {}).get(tname) or {}
    ticket_key = list(numbering.get("key") or ["register"]) + [numbering.get("field") or "number"]
    done = {}

    # lines, summed per ticket and rate
    rates = []
    line_sums = None
    if lc:
        try:
            rates = [(int(r), f[0], f[1]) for r, f in (lc.get("rates") or {}).items()]
        except (TypeError, ValueError, IndexError):
            ctx.report.add("recipes.json", "format", "line_checks.rates illisible.")
            rates = []
        lj = ctx.pkg.journal(lc.get("journal", "ticket_lines"))
        lkey = list(lc.get("ticket_key") or [])
        lidx = lj.index(lkey + [lc.get("rate_field"), lc.get("amount")]) if lj is not None and rates else None
        if lidx is not None:
            line_sums = {}
            pos = dict((r, i) for i, (r, _, _) in enumerate(rates))
            kcols = [lidx[f] for f in lkey]
            rcol, acol = lidx[lc["rate_field"]], lidx[lc["amount"]]
            for line, row in lj.rows():
                key = tuple(norm(row[c]) for c in kcols)
                rate, amount = _ints(ctx, lj, row, [(lc["rate_field"], rcol), (lc["amount"], acol)],
                                     list(zip(lkey, (row[c] for c in kcols))), line)
                i = pos.get(rate)
                if i is None or amount is None:
                    continue
                sums = line_sums.get(key)
                if sums is None:
                    sums = line_sums[key] = [0] * len(rates)
                sums[i] += amount
            done["lines"] = lj.count or 0

    # payments, summed per ticket
    pay_sums = None
    if pc:
        pj = ctx.pkg.journal(pc.get("journal", "payments"))
        pkey = list(pc.get("ticket_key") or [])
        pidx = pj.index(pkey + [pc.get("amount")]) if pj is not None else None
        if pidx is not None:
            pay_sums = {}
            kcols, acol = [pidx[f] for f in pkey], pidx[pc["amount"]]
            for line, row in pj.rows():
                key = tuple(norm(row[c]) for c in kcols)
                (amount,) = _ints(ctx, pj, row, [(pc["amount"], acol)], list(zip(pkey, (row[c] for c in kcols))), line)
                pay_sums[key] = pay_sums.get(key, 0) + (amount or 0)
            done["payments"] = pj.count or 0

    # tickets: each against its lines and payments; counted ones summed per register and day
    amounts = list((cc or {}).get("amounts") or [])
    total_field = (pc or {}).get("ticket_total")
    rate_fields = [f for _, ht, tva in rates for f in (ht, tva)]
    tj = ctx.pkg.journal(tname)
    if tj is None:
        return done
    needed = ticket_key + ["type", "timestamp", "register"] + amounts + rate_fields
    if pay_sums is not None:
        needed.append(total_field)
    tidx = tj.index(needed)
    if tidx is None:
        return done
    kcols = [tidx[f] for f in ticket_key]
    amount_cols = [(a, tidx[a]) for a in amounts]
    rate_cols = [(f, tidx[f]) for f in rate_fields]
    total_col = tidx.get(total_field)
    type_col, ts_col, reg_col = tidx["type"], tidx["timestamp"], tidx["register"]
    # The business day as the export wrote it (the shop's local date, its time zone in export.json); packages made
    # before it existed have only UTC stamps, whose date was their day.
    day_col = tj.header.index("business_day") if "business_day" in tj.header else None
    days = {}  # (register, day) -> [count, amounts..., line sums per rate...]
    width = 1 + len(amounts) + len(rates)
    for line, row in tj.rows():
        key = tuple(norm(row[c]) for c in kcols)
        rec = list(zip(ticket_key, (row[c] for c in kcols)))
        ttype = row[type_col]
        lsums = None
        if line_sums is not None:
            vals = _ints(ctx, tj, row, rate_cols, rec, line)
            lsums = line_sums.get(key) or [0] * len(rates)
            diffs = []
            for i, (r, _, _) in enumerate(rates):
                ht, tva = vals[2 * i], vals[2 * i + 1]
                on_ticket = None if ht is None or tva is None else ht + tva
                if not _same(on_ticket, lsums[i]):
                    diffs.append("taux {} : {} sur le ticket, {} dans ses lignes".format(
                        _rate(r), _show(on_ticket), lsums[i]))
            if diffs:
                ctx.report.add(tname, "ticket_lines", "différent de la somme de ses lignes : " + " ; ".join(diffs) + ".",
                               rec, line, tj.shown)
        if pay_sums is not None and ttype != "training":
            (total,) = _ints(ctx, tj, row, [(total_field, total_col)], rec, line)
            paid = pay_sums.get(key, 0)
            if not _same(total, paid):
                ctx.report.add(tname, "payments", "total {} mais les règlements font {}.".format(_show(total), paid),
                               rec, line, tj.shown)
        if cc and ttype in counted:
            dkey = (row[reg_col], row[day_col] if day_col is not None else row[ts_col][:10])
            agg = days.get(dkey)
            if agg is None:
                agg = days[dkey] = [0] * width
            agg[0] += 1
            for i, v in enumerate(_ints(ctx, tj, row, amount_cols, rec, line)):
                agg[1 + i] += v or 0
            if lsums is not None:
                for i, v in enumerate(lsums):
                    agg[1 + len(amounts) + i] += v
    done["tickets"] = tj.count or 0
    if cc:
        n = check_closures(ctx, cc, days, amounts, rates, line_sums is not None)
        if n is not None:
            done["closures"] = n
    return done


def check_closures(ctx, cc, days, amounts, rates, with_lines):
    cname = cc.get("journal", "closures")
    cj = ctx.pkg.journal(cname)
    if cj is None:
        return None
    count_field = cc.get("count")
    perpetual = cc.get("perpetual") or {}
    rate_fields = [f for _, ht, tva in rates for f in (ht, tva)] if with_lines else []
    fields = ["register", "kind", "number", "period_start", "period_end", count_field] + amounts + rate_fields
    fields += list(perpetual.keys()) + list(perpetual.values())
    idx = cj.index(fields)
    if idx is None:
        return None
    int_fields = [count_field] + amounts + rate_fields
    int_fields += [f for f in list(perpetual.keys()) + list(perpetual.values()) if f not in int_fields]
    closures = []
    for line, row in cj.rows():
        rec = [("register", row[idx["register"]]), ("kind", row[idx["kind"]]), ("number", row[idx["number"]])]
        vals = _ints(ctx, cj, row, [(f, idx[f]) for f in int_fields], rec, line)
        c = dict(zip(int_fields, vals))
        c.update({"_register": row[idx["register"]], "_kind": row[idx["kind"]], "_number": to_int(row[idx["number"]]),
                  "_start": row[idx["period_start"]], "_end": row[idx["period_end"]], "_line": line, "_rec": rec})
        closures.append(c)

    def inside_package(c):
        # a package of a period may hold a monthly or yearly closure whose first or last days
        # are outside it: its daily closures are not all in the files, so it cannot be recomputed
        if ctx.period is None:
            return True
        return ctx.period[0] <= c["_start"] and c["_end"] <= ctx.period[1]

    def report_sums(c, n, sums, what):
        diffs = []
        if not _same(c[count_field], n):
            diffs.append("{} tickets enregistrés, {} trouvés".format(_show(c[count_field]), n))
        for a, s in zip(amounts, sums):
            if not _same(c[a], s):
                diffs.append("{} : {} enregistré, {} d'après {}".format(a, _show(c[a]), s, what))
        if diffs:
            ctx.report.add(cname, "closure_total", "ne correspond pas à ses {} : {}.".format(
                what.replace("ses ", ""), " ; ".join(diffs[:4])), c["_rec"], c["_line"], cj.shown)

    daily = cc.get("daily", "daily")
    by_register = {}
    for reg, day in days:
        by_register.setdefault(reg, []).append(day)
    for v in by_register.values():
        v.sort()
    for c in closures:
        if c["_kind"] != daily:
            continue
        reg_days = by_register.get(c["_register"], [])
        lo = bisect.bisect_left(reg_days, c["_start"])
        hi = bisect.bisect_right(reg_days, c["_end"])
        total = [0] * (1 + len(amounts) + len(rates))
        for day in reg_days[lo:hi]:
            for i, v in enumerate(days[(c["_register"], day)]):
                total[i] += v
        report_sums(c, total[0], total[1:1 + len(amounts)], "ses tickets")
        if with_lines:
            diffs = []
            for i, (r, ht, tva) in enumerate(rates):
                got = None if c[ht] is None or c[tva] is None else c[ht] + c[tva]
                expected = total[1 + len(amounts) + i]
                if not _same(got, expected):
                    diffs.append("taux {} : {} enregistré, {} d'après les lignes".format(_rate(r), _show(got), expected))
            if diffs:
                ctx.report.add(cname, "closure_lines", "ne correspond pas aux lignes des tickets de sa période : "
                               + " ; ".join(diffs) + ".", c["_rec"], c["_line"], cj.shown)
    skipped = 0
    for kind, lower in (cc.get("rollups") or {}).items():
        for c in closures:
            if c["_kind"] != kind:
                continue
            if not inside_package(c):
                skipped += 1
                continue
            parts = [l for l in closures if l["_register"] == c["_register"] and l["_kind"] == lower
                     and l["_start"] >= c["_start"] and l["_end"] <= c["_end"]]
            n = sum(l[count_field] or 0 for l in parts)
            sums = [sum(l[a] or 0 for l in parts) for a in amounts]
            report_sums(c, n, sums, "ses clôtures {}".format(lower))
    for pfield, tfield in perpetual.items():
        by_reg = {}
        for c in closures:
            if c["_kind"] == daily and c["_number"] is not None:
                by_reg.setdefault(c["_register"], []).append(c)
        for reg, items in by_reg.items():
            items.sort(key=lambda c: c["_number"])
            for i, c in enumerate(items):
                got, period_total = c[pfield], c[tfield]
                if i == 0:
                    if not ctx.full_history:
                        continue
                    expected = period_total
                else:
                    prev = items[i - 1][pfield]
                    expected = None if prev is None or period_total is None else prev + period_total
                if not _same(got, expected):
                    ctx.report.add(cname, "grand_total", "{} vaut {}, mais le grand total précédent plus le {} de la "
                                   "période donne {}.".format(pfield, _show(got), tfield, _show(expected)),
                                   c["_rec"], c["_line"], cj.shown)
        for c in closures:
            if c["_kind"] == daily:
                continue
            if not inside_package(c):
                continue
            before = [d for d in by_reg.get(c["_register"], []) if d["_end"] <= c["_end"]]
            if not before:
                continue
            last = max(before, key=lambda d: d["_number"])
            if last[pfield] is not None and not _same(c[pfield], last[pfield]):
                ctx.report.add(cname, "grand_total", "{} vaut {}, mais la dernière clôture journalière de sa période "
                               "indique {}.".format(pfield, _show(c[pfield]), _show(last[pfield])),
                               c["_rec"], c["_line"], cj.shown)
    if skipped:
        ctx.report.note("{} clôture(s) mensuelle(s) ou annuelle(s) couvrent des jours hors de la période du paquet : "
                        "leurs totaux ne sont pas recalculés.".format(skipped))
    return len(closures)


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


class Context:
    pass


def parse_args(argv):
    opts = {"dir": None, "all": True, "sample": DEFAULT_SAMPLE, "seed": "0", "pure": False, "secret_file": None}
    i = 0
    while i < len(argv):
        a = argv[i]
        value = None
        if "=" in a and a.startswith("--"):
            a, value = a.split("=", 1)
        if a in ("-h", "--help"):
            say(__doc__.strip())
            sys.exit(EXIT_OK)
        elif a == "--all-signatures" and value is None:
            opts["all"] = True
        elif a == "--python-seul" and value is None:
            opts["pure"] = True
        elif a in ("--sample", "--seed", "--secret-file"):
            if value is None:
                i += 1
                if i >= len(argv):
                    raise Fatal("l'option {} attend une valeur.".format(a))
                value = argv[i]
            if a == "--sample":
                if not re.match(r"[0-9]+\Z", value):
                    raise Fatal("--sample attend un nombre entier positif ou nul, pas « {} ».".format(value))
                opts["sample"] = int(value)
                opts["all"] = False
            elif a == "--secret-file":
                opts["secret_file"] = value
            else:
                opts["seed"] = value
        elif a.startswith("-") and a != "-":
            raise Fatal("option inconnue « {} ».".format(argv[i]))
        elif opts["dir"] is not None:
            raise Fatal("un seul dossier de paquet à la fois (« {} » en trop).".format(a))
        else:
            opts["dir"] = a
        i += 1
    return opts


def _load_keys(pkg, report, pure=False):
    doc = pkg.load_json("till-keys.json")
    if doc is None:
        return None
    keys = []
    entries = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        report.add("till-keys.json", "format", "liste « keys » absente.")
        return None
    for k in entries:
        if not isinstance(k, dict):
            continue
        kid = k.get("key_id", "?")
        if str(k.get("algorithm", "ed25519")).lower() != "ed25519":
            report.note("till-keys.json : la clé {} n'est pas une clé Ed25519 ; elle est ignorée.".format(kid))
            continue
        try:
            raw = base64.b64decode(str(k.get("public_key_b64", "")), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32 or _decode_point(raw) is None:
            report.add("till-keys.json", "format", "la clé {} n'est pas une clé publique Ed25519 valide.".format(kid))
            continue
        keys.append(raw)
    if not keys:
        report.add("till-keys.json", "format", "aucune clé publique de caisse utilisable : les signatures ne peuvent "
                                               "pas être vérifiées.")
        return None
    return Ed25519Keys(keys, pure)


def check_runs(pkg, report):
    """run/runs.json: what each run of the period found the evening it was made (a deletion, a re-signed chain),
    signed with the package: a finding there is a finding here, even if the records handed over look clean.
    Returns the number of runs listed, or None without the file."""
    path = os.path.join(pkg.root, "run", "runs.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "r", encoding="utf-8-sig") as f:
            doc = json.load(f)
        runs = doc["runs"]
        assert isinstance(runs, list)
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        report.add("run/runs.json", "format", "illisible : la liste des sauvegardes de la période ne peut pas être lue.")
        return None
    for r in runs:
        if not isinstance(r, dict):
            continue
        by_check = r.get("by_check") if isinstance(r.get("by_check"), dict) else {}
        if not r.get("authentic", True):
            report.add("run/runs.json", "earlier_run", "la sauvegarde {} n'a pas pu être relue : {}.".format(
                r.get("run_id"), r.get("problem") or "?"))
        for key, n in sorted(by_check.items()):
            journal, _, check = str(key).partition("/")
            report.add("run/runs.json", "earlier_run", "la sauvegarde {} a relevé ce soir-là {} constat(s) « {} » dans "
                       "le journal {} : {}.".format(r.get("run_id"), n, check, journal, fiscal_rules.french(check)))
    return len(runs)


def _period(pkg, recipes):
    """(True, None) for the till's whole history, (False, (start, end)) for a period, (False, None) if unknown."""
    sources = []
    if isinstance(recipes, dict) and "period" in recipes:
        sources.append(recipes["period"])
    path = os.path.join(pkg.journal_dir, "export.json")
    if not sources and os.path.isfile(path):
        try:
            with open(path, "r", encoding="utf-8-sig") as f:
                doc = json.load(f)
            if isinstance(doc, dict) and "period" in doc:
                sources.append(doc["period"])
        except (OSError, ValueError):
            pass
    if not sources:
        return False, None
    p = sources[0]
    if p is None:
        return True, None
    if isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) for x in p):
        return False, (p[0], p[1])
    return False, None


def run(argv):
    opts = parse_args(argv)
    root = opts["dir"] if opts["dir"] is not None else os.path.dirname(os.path.abspath(__file__))
    report = verify(root, opts["all"], opts["sample"], opts["seed"], pure=opts["pure"],
                    secret=_secret(opts["secret_file"]))
    return EXIT_OK if report.total() == 0 else EXIT_FINDINGS


def _secret(path):
    """The till's secret: the file's content without its final line end, else the environment variable's value."""
    if path is not None:
        try:
            with open(path, "rb") as f:
                raw = f.read().rstrip(b"\r\n")
        except OSError as err:
            raise Fatal("le fichier du secret « {} » ne peut pas être lu ({}).".format(path, _why(err)))
        if not raw:
            raise Fatal("le fichier du secret « {} » est vide.".format(path))
        return raw
    value = os.environ.get(SECRET_VARIABLE)
    return value.encode("utf-8") if value else None


def _guarded(ctx, what, fn, *args):
    """Runs one check; a recipe it cannot follow is one finding, never a traceback."""
    try:
        return fn(*args)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        ctx.report.add("recipes.json", "format", "{} : recette incomplète ou illisible ({}: {}).".format(
            what, type(err).__name__, err))
        return None


def run_rules(ctx):
    """Steps 4 (totals) and 5 (record rules, digests): ({what was read}, rules applied)."""
    if not ctx.recipes:
        return {}, 0
    done = _guarded(ctx, "totaux", check_totals, ctx) or {}
    rules = (_guarded(ctx, "enregistrements", check_records, ctx) or 0) + \
        (_guarded(ctx, "empreintes", check_digests, ctx) or 0) + \
        (_guarded(ctx, "moyens de paiement", check_means, ctx) or 0)
    return done, rules


def rules_in(root, recipes, full_history, period):
    """run_rules on a package of its own, in another process; returns what the parent's report needs."""
    report = Report()
    ctx = Context()
    ctx.pkg, ctx.report, ctx.recipes, ctx.bad_cells = Package(root, report), report, recipes, set()
    ctx.full_history, ctx.period = full_history, period
    done, rules = run_rules(ctx)
    counts = dict((n, j.count) for n, j in ctx.pkg.journals.items() if j is not None and j.count is not None)
    return {"done": done, "rules": rules, "findings": report.findings, "per_check": report.per_check,
            "truncated": report.truncated, "notes": report.notes, "counts": counts}


def _start_rules(root, recipes, full_history, period):
    if (os.cpu_count() or 1) < 2:
        return None
    try:
        import multiprocessing
        pool = multiprocessing.Pool(1)
    except Exception:  # noqa: BLE001 - no second process here (a locked-down PC): done in this one, later
        return None
    return pool, pool.apply_async(rules_in, (root, recipes, full_history, period))


def _finish_rules(started):
    if started is None:
        return None
    pool, pending = started
    try:
        return pending.get()
    except Exception:  # noqa: BLE001 - the other process failed or could not be fed: done again in this one
        return None
    finally:
        pool.terminate()
        pool.join()


def _merge(ctx, got):
    """The other process's findings into this report, in its order, once each (both read the same files)."""
    report = ctx.report
    seen = set(repr(f) for f in report.findings)
    for f in got["findings"]:
        f = tuple(f)
        if repr(f) in seen:
            continue
        seen.add(repr(f))
        where, check = f[0], f[1]
        n = report.per_check.get((where, check), 0)
        report.per_check[(where, check)] = n + 1
        if n < MAX_FINDINGS_PER_CHECK:
            report.findings.append(f)
    for (where, check), n in got["per_check"].items():
        # counts beyond what was kept as findings: only the other process saw them
        kept = sum(1 for f in got["findings"] if (f[0], f[1]) == (where, check))
        if n > kept:
            report.per_check[(where, check)] = report.per_check.get((where, check), 0) + n - kept
    for key in got["truncated"]:
        if key not in report.truncated:
            report.truncated.append(key)
    for text in got["notes"]:
        report.note(text)
    for name, n in got["counts"].items():
        j = ctx.pkg.journals.get(name)
        if j is None and name not in ctx.pkg.journals:
            j = ctx.pkg.journal(name)
        if j is not None and j.count is None:
            j.count = n


def verify(root, all_signatures=True, sample=DEFAULT_SAMPLE, seed="0", say=say, pure=False, secret=None):
    """Checks the package in `root`, printing as it goes through `say`; returns the Report."""
    started = time.time()
    if not os.path.isdir(root):
        raise Fatal("le dossier « {} » n'existe pas.".format(root))
    root = os.path.abspath(root)
    report = Report()
    pkg = Package(root, report)
    if not os.path.isfile(os.path.join(root, "SHA256SUMS")) and not os.path.isfile(
            os.path.join(pkg.journal_dir, "tickets.csv")) and pkg.find("recipes.json") is None:
        raise Fatal("« {} » ne ressemble pas à un paquet Coffre (ni SHA256SUMS, ni tickets.csv, ni recipes.json)."
                    .format(root))
    say("Vérification du paquet Coffre : {}".format(root))

    # 1. SHA256SUMS (its findings come first; its line is printed after the period)
    listed, good = check_sums(pkg, report)
    if any(os.path.isfile(os.path.join(root, n)) for n in UNSIGNED[1:]):
        report.note("La signature de SHA256SUMS par Coffre (SHA256SUMS.minisig, SHA256SUMS.sig) se vérifie à part "
                    "(minisign ou openssl, voir LISEZMOI.txt).")

    recipes = pkg.load_json("recipes.json")
    if recipes is not None and (not isinstance(recipes, dict) or recipes.get("format") != "coffre-recipes/1"):
        report.add("recipes.json", "format", "format inconnu (attendu : coffre-recipes/1).")
        recipes = recipes if isinstance(recipes, dict) else None
    ctx = Context()
    ctx.pkg, ctx.report, ctx.recipes = pkg, report, recipes or {}
    ctx.all_signatures, ctx.sample, ctx.seed = all_signatures, sample, seed
    ctx.bad_cells = set()
    ctx.full_history, ctx.period = _period(pkg, recipes)
    if ctx.full_history:
        say("Période : tout l'historique de la caisse.")
    elif ctx.period:
        say("Période : du {} au {} (le lien du premier enregistrement de chaque chaîne vers le précédent, "
            "hors du paquet, n'est pas contrôlé).".format(ctx.period[0], ctx.period[1]))
    else:
        say("Période du paquet inconnue (export.json absent) : les liens vers des enregistrements hors du paquet "
            "ne sont pas contrôlés.")
    say("1. Empreintes SHA-256 (SHA256SUMS) : {} fichier(s) listé(s), {} conforme(s).".format(listed, good))
    runs = check_runs(pkg, report)
    if runs is not None:
        say("   Sauvegardes de la période (run/runs.json) : {} ; leurs constats du soir sont repris ci-dessous."
            .format(runs))

    # Steps 4 and 5 are pure Python and read every CSV again: on a second core they run beside the chains, whose
    # signature checks are mostly OpenSSL's (or the pure Python's) work.
    elsewhere = _start_rules(root, ctx.recipes, ctx.full_history, ctx.period) if ctx.recipes else None

    # 2. chains and signatures
    journals = ctx.recipes.get("journals") if isinstance(ctx.recipes.get("journals"), dict) else {}
    ctx.keys = _load_keys(pkg, report, pure) if journals else None
    plans = [p for p in (_guarded(ctx, name, plan_chain, ctx, name, r) for name, r in journals.items()) if p is not None]
    planned = sum(p.planned for p in plans) if ctx.keys is not None else 0
    ctx.progress = Progress(planned, say)
    fast = ctx.keys is not None and ctx.keys.fast
    estimate = planned * (SECONDS_PER_SIGNATURE_FAST if fast else SECONDS_PER_SIGNATURE)
    if journals:
        say("2. Chaînes et signatures Ed25519 ({} signature(s) à vérifier, avec {}{}) :".format(
            _number(planned), ctx.keys.engine if ctx.keys is not None else "—",
            "" if estimate < 10 else ", compter environ {}".format(
                _seconds(estimate) if estimate < 90 else "{} min".format(int(round(estimate / 60.0))))))
    else:
        say("2. Chaînes (la caisse ne signe pas en Ed25519 : elle scelle sa propre chaîne) :")
    sig_started = time.time()
    checked = total = 0
    for plan in plans:
        stats = _guarded(ctx, plan.name, check_chain, ctx, plan)
        if stats is None:
            continue
        checked += stats["checked"]
        total += stats["records"]
        say("     {:<12} {:>9} enregistrement(s), {} chaîne(s), {} signature(s) vérifiée(s) sur {}".format(
            plan.name, _number(stats["records"]), stats["chains"], _number(stats["checked"]), _number(stats["records"])))
    if getattr(ctx, "sig_pool", None):
        ctx.sig_pool.shutdown()
    sig_seconds = time.time() - sig_started
    if ctx.keys is None and journals:
        say("     signatures non vérifiées : aucune clé publique de caisse utilisable.")
    elif checked < total:
        say("     Échantillon : toutes les signatures des chaînes de {} enregistrements au plus ; au-delà les {} "
            "premières, les {} dernières et {} autres au hasard (graine {}). Sans --sample, tout est vérifié.".format(
                FULL_CHAIN_MAX, HEAD, TAIL, ctx.sample, ctx.seed))

    # 2b. the till's own chain
    sources = ctx.recipes.get("source_chains") if isinstance(ctx.recipes.get("source_chains"), dict) else {}
    for name, spec in sorted(sources.items()):
        stats = _guarded(ctx, name, check_source_chain, ctx, name, spec, secret)
        if stats is not None:
            say("     {:<12} {:>9} enregistrement(s), {} chaîne(s), {} sceau(x) recalculé(s) (recette {})".format(
                name, _number(stats["records"]), stats["chains"], _number(stats["sealed"]), stats["recipes"]))

    # 3. numbering
    numbering = ctx.recipes.get("numbering") if isinstance(ctx.recipes.get("numbering"), dict) else {}
    numbered = []
    for name, spec in numbering.items():
        n = _guarded(ctx, "numbering/" + name, check_numbering, ctx, name, spec)
        if n is not None:
            numbered.append("{} ({})".format(name, _number(n)))
    say("3. Numérotation (trous et doublons) : {}.".format(", ".join(numbered) if numbered else "rien à contrôler"))

    # 4. totals, 5. record rules
    got = _finish_rules(elsewhere)
    if got is None:
        done, rules = run_rules(ctx)
    else:
        done, rules = got["done"], got["rules"]
        _merge(ctx, got)
    bits = []
    if "tickets" in done:
        bits.append("{} ticket(s)".format(_number(done["tickets"])))
    if "lines" in done:
        bits.append("contre {} ligne(s)".format(_number(done["lines"])))
    if "payments" in done:
        bits.append("et {} règlement(s)".format(_number(done["payments"])))
    if "closures" in done:
        bits.append("; {} clôture(s) contre leurs tickets, entre elles et grands totaux".format(_number(done["closures"])))
    say("4. Totaux : {}.".format(" ".join(bits) if bits else "rien à contrôler"))
    say("5. Règles par enregistrement (ventilation par taux, calcul des lignes, lignes et règlements sans ticket, "
        "événements du JET, empreintes des lignes et des règlements, moyens de paiement des clôtures) : "
        "{} règle(s) appliquée(s).".format(rules))

    # summary
    counts = []
    for name in JOURNALS:
        j = pkg.journals.get(name)
        if j is not None and j.count is not None:
            counts.append("{} {}".format(name, _number(j.count)))
    say("")
    if counts:
        say("Enregistrements : " + ", ".join(counts) + ".")
    speed = ""
    if checked:
        speed = " ({} ms par signature)".format(("{:.1f}".format(sig_seconds * 1000.0 / checked)).replace(".", ","))
    say("Signatures vérifiées : {} sur {}{}.".format(_number(checked), _number(total), speed))
    say("Durée : {}.".format(_seconds(time.time() - started)))
    for text in report.notes:
        say("Note : " + text)
    say("")
    n = report.total()
    if n == 0:
        say("RÉSULTAT : tout est conforme, aucun constat.")
        return report
    say("RÉSULTAT : {} constat(s) :".format(_number(n)))
    for f in report.findings:
        say("  - " + Report.sentence(f))
    for where, check in report.truncated:
        say("  … et d'autres constats du même type ({}, {}) non affichés.".format(where, check))
    return report


def main(argv=None):
    _setup_output()
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except Fatal as err:
        sys.stderr.write("verify.py : {}\n{}\n".format(err, USAGE))
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("\nverify.py : interrompu, vérification incomplète.\n")
        return EXIT_FINDINGS
    except MemoryError:
        sys.stderr.write("verify.py : mémoire insuffisante pour ce paquet.\n")
        return EXIT_FINDINGS
    except Exception as err:  # never a traceback for the inspector: one sentence, and a failing exit code
        sys.stderr.write("verify.py : erreur inattendue ({}: {}) ; la vérification n'a pas pu aller au bout.\n".format(
            type(err).__name__, err))
        return EXIT_FINDINGS


if __name__ == "__main__":
    sys.exit(main())
