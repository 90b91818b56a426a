"""LISEZMOI.txt: the guide to an export, every file and field, and how to recompute each chain.

Written in French (LISEZMOI.txt, the run's export and the auditor's package) or in English (the package's README.txt):
every paragraph, list item and field description is a message of the catalogue, rendered with `in_language`, so that
the guide's language never depends on the language of the process that writes it. The messages keep the line breaks
of the guide: one message per paragraph or list item, wrapped as it is printed.
"""

from __future__ import annotations

from pipeline.i18n import in_language, translation_for
from pipeline.journals.checks import CheckResult
from pipeline.journals.mapping import Mapping, journal_schema

MAX_FINDINGS_LISTED = 50


def render(mapping: Mapping, meta: dict, checks: CheckResult, language: str = "fr") -> str:
    """The guide in `language` (the auditor's package carries a French LISEZMOI.txt and an English README.txt)."""
    lang = language
    out = [_head(lang)]
    texts = _schema_texts(lang)
    for name, j in mapping.journals.items():
        schema = journal_schema(name)
        n = meta.get("records", {}).get(name)
        if n is None:
            out.append(f"\n{name}.csv / {name}.json")
        else:
            out.append("\n" + translation_for(lang).ngettext(
                "{name}.csv / {name}.json  ({count} record)", "{name}.csv / {name}.json  ({count} records)",
                n).format(name=name, count=n))
        out.append("-" * (len(name) * 2 + 12))
        out.append(texts.get((name, ""), schema.get("description", "")))
        for f, p in schema["items"]["properties"].items():
            desc = texts.get((name, f), texts.get(("", f), p.get("description", "")))
            out.append(f"  {f:34} {desc}")
    if mapping.public_keys_sql:
        keys_table = mapping.public_keys_sql.split(" FROM ")[-1].split()[0]
        out.append("\n" + _chain(lang, keys_table, mapping.public_keys_sql))
    for j in mapping.source_chains:
        out.append("\n" + _source_chain(lang, j))
    for name, j in mapping.journals.items():
        if not j.payload:
            continue
        order = j.chain_order or j.numbering_field or in_language(lang, "file order")
        if j.chain_key:
            keys = j.chain_key[0]
            for key in j.chain_key[1:]:
                keys = in_language(lang, "{first} and {second}").format(first=keys, second=key)
            line = in_language(lang, "  {name}: one chain per {keys}, in the order of \"{order}\"; signed string:")
            out.append(line.format(name=name, keys=keys, order=order))
        else:
            line = in_language(lang, "  {name}: a single chain for the whole shop, in the order of \"{order}\"; "
                                     "signed string:")
            out.append(line.format(name=name, order=order))
        out.append(f"      {j.payload}")
    out.append(_checks(lang))
    count = checks.summary()["findings"]
    out.append(translation_for(lang).ngettext("Result of the checks of this export: {count} finding.",
                                              "Result of the checks of this export: {count} findings.",
                                              count).format(count=count))
    for f in checks.findings[:MAX_FINDINGS_LISTED]:
        record = ", ".join(f"{k} {v}" for k, v in f.record.items())
        sentence = in_language(lang, "{journal} [{record}]: {message}").format(journal=f.journal, record=record,
                                                                               message=f.message)
        out.append(f"  - {sentence}")
    if count > MAX_FINDINGS_LISTED:
        out.append(in_language(lang, "  … and {count} more, all in findings.json.").format(
            count=count - MAX_FINDINGS_LISTED))
    out.append(_log(lang))
    return "\n".join(out) + "\n"


def _source_chain(lang: str, j) -> str:
    sc = j.source_chain
    keys = ", ".join(sc["key"]) or "-"
    recipe = sc["recipe"] or in_language(lang, "the one each record names in its \"recipe\" field")
    if sc["previous"] == "sequence":
        link = in_language(lang, "each record is linked to the one whose sequence number is one less")
    else:
        link = in_language(lang, "each record is linked to the record before it in its chain")
    return in_language(lang, "The till's own chain ({name}): one chain per {keys}; {link}; its seal is recomputed by "
                             "the recipe {recipe} from its content and the seal it is linked to (verify.py does "
                             "it, with the recipes of its chains/ folder).").format(name=j.name, keys=keys, link=link,
                                                                                  recipe=recipe)


def _head(lang: str) -> str:
    return "".join([
        in_language(lang, "README - Fiscal journals of the till, exported by Coffre\n"
                          "========================================================"),
        "\n\n",
        in_language(lang, "This folder holds the journals of the cash register, as the till recorded them, in open\n"
                          "formats that can be read without the till's software:"),
        "\n\n",
        in_language(lang, "  - NAME.csv : UTF-8 text with a BOM, separator \";\", one header line with the names of the\n"
                          "               fields, CRLF line endings. Texts are between double quotes (a double quote\n"
                          "               inside a text is doubled), numbers are not, a missing value is empty.\n"
                          "               Every amount in cents (…_cents) is followed by the same amount in euros\n"
                          "               with a decimal comma (…_eur), for a spreadsheet.\n"
                          "               To open in Excel: a double click is enough (the BOM tells it is UTF-8);\n"
                          "               otherwise Data > From Text/CSV, File Origin \"65001: Unicode (UTF-8)\",\n"
                          "               Delimiter \"Semicolon\". LibreOffice: character set UTF-8, separator\n"
                          "               \";\"."),
        "\n",
        in_language(lang, "  - NAME.json: the same records, in the same order, in JSON (an array of objects,\n"
                          "               one object per line). Its JSON schema is published with Coffre\n"
                          "               (schemas/journals/NAME.schema.json)."),
        "\n\n",
        in_language(lang, "Order of the lines: by till, then by number. In a backup that checked only the records\n"
                          "new since the previous backup, these follow the records already backed up: with several\n"
                          "tills, the file is then in the order of archiving, and the chain of each till stays in\n"
                          "its own order. Sorting on \"register\" then \"number\" (or \"seq\") gives back the order\n"
                          "by till."),
        "\n\n",
        in_language(lang, "Conventions: amounts are in euro cents (whole numbers: 1234 = 12.34 EUR), negative for\n"
                          "a refund or a cancellation; dates and times follow ISO 8601 to the second: \"timestamp\"\n"
                          "as the till wrote it (2025-01-31T18:02:45Z, \"Z\" = Coordinated Universal Time, UTC),\n"
                          "\"local_time\" the local time of the shop with its offset (2025-01-31T19:02:45+01:00) and\n"
                          "\"business_day\" the business day (local date), the one the closures (Z) group together;\n"
                          "VAT rates are in basis points (550 = 5.5 %, 1000 = 10 %, 2000 = 20 %)."),
        "\n\n",
        in_language(lang, "Coffre does not make a till compliant: it keeps and proves what the till recorded.\n"
                          "The checks below never stop the backup; their findings are in findings.json and\n"
                          "summed up at the end of this file."),
        "\n\n",
        in_language(lang, "Files\n"
                          "-----"),
        "\n",
        in_language(lang, "  export.json     : description of the export (shop, backup it comes from, period,\n"
                          "                    number of records per journal, source mapping used)."),
        "\n",
        in_language(lang, "  findings.json   : findings of the checks (see \"Checks\"), each naming the journal,\n"
                          "                    the record (till, number) and the problem."),
        "\n",
        in_language(lang, "  coffre-log.jsonl: (in the backups) the log of the operations of Coffre itself,\n"
                          "                    chained (see the end of this file)."),
        "\n",
    ])


def _chain(lang: str, keys_table: str, keys_sql: str) -> str:
    return "".join([
        in_language(lang, "Chaining and signatures: how to recompute everything\n"
                          "----------------------------------------------------"),
        "\n",
        in_language(lang, "Every signed record carries \"signature\" (its signature) and \"previous_signature\"\n"
                          "(the signature of the previous record of the same chain, empty for the first one).\n"
                          "The signature is an Ed25519 signature (RFC 8032) of the \"signed string\" below,\n"
                          "encoded in UTF-8, written in base64url without the final \"=\". The public key of the\n"
                          "till is in the table {keys} of the database (raw 32-byte key, base64); Coffre reads it\n"
                          "with:").format(keys=keys_table),
        "\n",
        f"  {keys_sql}",
        "\n\n",
        in_language(lang, "To verify a chain: take its records in the order given, check that the\n"
                          "previous_signature of each is the signature of the one before, rebuild the signed string\n"
                          "with the recipe, and verify the signature with the public key (for example with Python\n"
                          "and the \"cryptography\" package, or OpenSSL: openssl pkeyutl -verify -rawin)."),
        "\n\n",
        # The recipe's {{field}} are literal braces (the guide shows them as {field}), not placeholders.
        in_language(lang, "Recipe: each {{field}} is replaced by the value of the field of the same name in the CSV\n"
                          "(number in decimal, missing value = empty); {{field!e}} likewise, but \"\\\" is written\n"
                          "as \"\\\\\" and \",\" is written as \"\\,\".").format(),
        "\n",
    ])


def _checks(lang: str) -> str:
    return "".join([
        "\n",
        in_language(lang, "Checks made by Coffre (on a copy of the database, never on the database in use)\n"
                          "--------------------------------------------------------------------------------"),
        "\n",
        in_language(lang, "  signature        : the signature of the record matches its content;"),
        "\n",
        in_language(lang, "  chain_link       : previous_signature is indeed the signature of the previous record (a\n"
                          "                     record deleted, inserted or rewritten breaks the chain);"),
        "\n",
        in_language(lang, "  numbering_gap    : numbers without a gap (tickets, closures, duplicates per till; JET);"),
        "\n",
        in_language(lang, "  numbering_duplicate : no number is used twice;"),
        "\n",
        in_language(lang, "  tail_deleted     : records present at a previous check have disappeared;"),
        "\n",
        in_language(lang, "  ticket_lines     : each ticket, rate by rate, equals the sum of its lines;"),
        "\n",
        in_language(lang, "  payments         : the payments of a ticket add up to its total;"),
        "\n",
        in_language(lang, "  closure_total    : each daily closure equals the sum of the tickets of the day\n"
                          "                     (sales, refunds, cancellations; training excluded), each monthly\n"
                          "                     closure the sum of its daily ones, each yearly one the sum of its\n"
                          "                     monthly ones;"),
        "\n",
        in_language(lang, "  closure_lines    : each daily closure, rate by rate, equals the lines of the day;"),
        "\n",
        in_language(lang, "  grand_total      : each perpetual grand total is the previous one plus the total of the\n"
                          "                     period; a monthly or yearly closure carries the one of its last\n"
                          "                     daily closure;"),
        "\n",
        in_language(lang, "  breakdown        : the total excluding VAT (HT), the total VAT (TVA) and the total\n"
                          "                     including VAT (TTC) of each ticket and of each closure equal its own\n"
                          "                     breakdown by rate (HT + TVA = TTC);"),
        "\n",
        in_language(lang, "  line_arithmetic  : each line: quantity x unit price (rounded to the cent, to the\n"
                          "                     nearest, half away from zero) - discount = total of the line;"),
        "\n",
        in_language(lang, "  orphan           : no line and no payment belongs to a ticket absent from the journal;"),
        "\n",
        in_language(lang, "  jet_missing      : each closure (codes 80, 81, 82) and each duplicate (code 60) has its\n"
                          "                     event in the JET; jet_orphan: each such event has its record;"),
        "\n",
        in_language(lang, "  chain_changed    : records already verified at a previous backup have changed while\n"
                          "                     staying signed (a re-signed chain)."),
        "\n",
        in_language(lang, "Fingerprints of the lines and of the payments: the signature of a ticket covers\n"
                          "\"lines_sha256\" and \"payments_sha256\", the SHA-256 (hexadecimal) of its lines, each\n"
                          "written \"line:sku:quantity:unit_price:discount:rate:total\" in the order of the line\n"
                          "numbers, joined by \"|\", and of its payments, \"means:amount\" in the order of recording;\n"
                          "verify.py recomputes them from ticket_lines.csv and payments.csv."),
        "\n",
        in_language(lang, "A check limited to a period does not verify the link of the first record of each chain\n"
                          "with the previous one (outside the period)."),
        "\n",
    ])


def _log(lang: str) -> str:
    return "".join([
        "\n",
        in_language(lang, "The log of Coffre (coffre-log.jsonl)\n"
                          "------------------------------------"),
        "\n",
        in_language(lang, "One JSON line per operation of Coffre (archiving, verification, restore drill,\n"
                          "export). Each line carries \"previous_hash\", the BLAKE3 fingerprint (hexadecimal) of the\n"
                          "previous line as written (UTF-8 bytes, without the line ending); the first one carries\n"
                          "64 zeros. A deleted or rewritten line breaks the chain."),
        "\n",
    ])


def _schema_texts(lang: str) -> dict[tuple[str, str], str]:
    """The descriptions of the journals and of their fields, as the published JSON schemas (schemas/journals) give
    them in French: {(journal, ""): the journal's, (journal, field): a field's, ("", field): a field's in every
    journal that has no description of its own}. A field missing here keeps its schema's description."""
    shared = {
        "local_time": in_language(lang, "Local time of the shop with its UTC offset (ISO 8601, e.g. "
                                        "2025-01-01T00:30:00+01:00), in the time zone of the configuration "
                                        "(Europe/Paris by default)."),
        "business_day": in_language(lang, "Business day (YYYY-MM-DD): the local date of the shop; it is the one the "
                                          "closures (Z) group together."),
        "ht_550_cents": in_language(lang, "Amount excluding VAT at the 5.5 % rate, in cents."),
        "tva_550_cents": in_language(lang, "VAT at the 5.5 % rate, in cents."),
        "ht_1000_cents": in_language(lang, "Amount excluding VAT at the 10 % rate, in cents."),
        "tva_1000_cents": in_language(lang, "VAT at the 10 % rate, in cents."),
        "ht_2000_cents": in_language(lang, "Amount excluding VAT at the 20 % rate, in cents."),
        "tva_2000_cents": in_language(lang, "VAT at the 20 % rate, in cents."),
        "previous_signature": in_language(lang, "Signature of the previous record of the same chain (empty for the "
                                                "first one)."),
        "signature": in_language(lang, "Ed25519 signature of the record (base64url without padding), computed by the "
                                       "till."),
    }
    till_of_ticket = in_language(lang, "Code of the till of the ticket.")
    time_of_ticket = in_language(lang, "Date and time of the ticket.")
    ticket_id = in_language(lang, "Identifier of the ticket in the till's database.")
    till = in_language(lang, "Code of the till.")
    per_journal = {
        "tickets": {
            "": in_language(lang, "Tickets (sales receipts): one record per ticket issued, chained per till."),
            "register": in_language(lang, "Code of the till (e.g. CAISSE-01)."),
            "number": in_language(lang, "Number of the ticket, sequential and without a gap per till."),
            "type": in_language(lang, "Kind: sale, refund, cancellation, training (training mode, not part of the "
                                      "turnover)."),
            "timestamp": in_language(lang, "Date and time of issue, ISO 8601, to the second."),
            "operator": in_language(lang, "Code of the logged-in operator (salesperson)."),
            "original_register": in_language(lang, "For a refund or a cancellation: till of the original ticket."),
            "original_number": in_language(lang, "For a refund or a cancellation: number of the original ticket."),
            "total_ht_cents": in_language(lang, "Total excluding VAT, in cents."),
            "total_tva_cents": in_language(lang, "Total VAT, in cents."),
            "total_ttc_cents": in_language(lang, "Total including all taxes, in cents (negative for a refund or a "
                                                 "cancellation)."),
            "lines_sha256": in_language(lang, "SHA-256 fingerprint (hex) of the lines of the ticket, covered by its "
                                              "signature: for each line by number, "
                                              "\"line:sku:quantity:unit_price:discount:rate:total\", joined by "
                                              "\"|\"."),
            "payments_sha256": in_language(lang, "SHA-256 fingerprint (hex) of the payments of the ticket, covered by "
                                                 "its signature: \"means:amount\" in the order of recording, joined by "
                                                 "\"|\"."),
            "source_id": in_language(lang, "Identifier of the record in the till's database (sequence number of the "
                                           "source)."),
        },
        "ticket_lines": {
            "": in_language(lang, "Ticket lines: one record per item line."),
            "register": till_of_ticket,
            "ticket_number": in_language(lang, "Number of the ticket the line belongs to."),
            "line_no": in_language(lang, "Number of the line in the ticket."),
            "timestamp": time_of_ticket,
            "sku": in_language(lang, "Reference of the item."),
            "label": in_language(lang, "Label of the item as printed."),
            "quantity": in_language(lang, "Quantity, decimal for an item weighed or measured (0.35 for 350 g at the "
                                          "price per kilo); negative for a refund or a cancellation. The total of the "
                                          "line is quantity × unit price, rounded to the nearest cent (half away from "
                                          "zero), minus the discount. A text where the till keeps a number (a damaged "
                                          "or edited line) is written as it is; the line's arithmetic reads it as "
                                          "SQLite does (\"abc\" is 0)."),
            "unit_price_ttc_cents": in_language(lang, "Unit price including VAT, in cents."),
            "discount_ttc_cents": in_language(lang, "Discount including VAT on the line, in cents."),
            "vat_rate_bp": in_language(lang, "VAT rate in basis points (550 = 5.5 %, 1000 = 10 %, 2000 = 20 %)."),
            "line_total_ttc_cents": in_language(lang, "Total of the line including VAT = quantity × unit price − "
                                                      "discount, in cents."),
            "source_id": in_language(lang, "Identifier of the line in the till's database."),
            "ticket_source_id": ticket_id,
        },
        "payments": {
            "": in_language(lang, "Payments: one record per means of payment of a ticket."),
            "register": till_of_ticket,
            "ticket_number": in_language(lang, "Number of the ticket paid."),
            "timestamp": time_of_ticket,
            "means": in_language(lang, "Means of payment: cash, card, cheque, voucher (gift voucher)."),
            "amount_cents": in_language(lang, "Amount paid, in cents (negative when money is given back to the "
                                              "customer)."),
            "source_id": in_language(lang, "Identifier of the payment in the till's database."),
            "ticket_source_id": ticket_id,
        },
        "closures": {
            "": in_language(lang, "Daily, monthly and yearly closures (Z), with period totals and perpetual grand "
                                  "totals, chained per till."),
            "register": till,
            "kind": in_language(lang, "Kind of closure: daily, monthly, yearly."),
            "number": in_language(lang, "Number of the closure, sequential per till and per kind."),
            "period_start": in_language(lang, "First day covered (included)."),
            "period_end": in_language(lang, "Last day covered (included)."),
            "timestamp": in_language(lang, "Date and time of the closure."),
            "ticket_count": in_language(lang, "Number of tickets of the period (sales, refunds, cancellations; "
                                              "training excluded)."),
            "total_ht_cents": in_language(lang, "Total excluding VAT of the period, in cents."),
            "total_tva_cents": in_language(lang, "Total VAT of the period, in cents."),
            "total_ttc_cents": in_language(lang, "Total including VAT of the period, in cents."),
            "grand_total_perpetual_ht_cents": in_language(lang, "Perpetual grand total excluding VAT since the till "
                                                                "was put into service, in cents."),
            "grand_total_perpetual_ttc_cents": in_language(lang, "Perpetual grand total including VAT since the till "
                                                                 "was put into service, in cents."),
            "payments_by_means": in_language(lang, "Payments of the period per means of payment, signed with the "
                                                   "closure: \"means:amount in cents\" sorted by means, joined by "
                                                   "\"|\" (e.g. card:1234|cash:560)."),
            "source_id": in_language(lang, "Identifier of the closure in the till's database."),
        },
        "jet": {
            "": in_language(lang, "Technical event journal (JET): openings, closures, logins, duplicates, "
                                  "archivings… chained for the whole shop."),
            "seq": in_language(lang, "Sequence number of the event, without a gap for the whole shop."),
            "code": in_language(lang, "Code of the event (see the list in LISEZMOI.txt)."),
            "register": in_language(lang, "Code of the till concerned (empty for an event of the shop)."),
            "operator": in_language(lang, "Code of the logged-in operator (empty if none)."),
            "timestamp": in_language(lang, "Date and time of the event."),
            "label": in_language(lang, "Label of the event."),
            "detail": in_language(lang, "Detail of the event."),
            "source_id": in_language(lang, "Identifier of the event in the till's database."),
        },
        "source_chain": {
            "": in_language(lang, "The till's own chain, as its software sealed it (Odoo: l10n_fr_hash of the "
                                  "orders; Dolibarr: the blocked log): each record with the values the software "
                                  "hashed and its seal."),
            "chain": in_language(lang, "Key of the chain: one chain per company (Odoo) or per entity (Dolibarr)."),
            "sequence": in_language(lang, "Place of the record in its chain: gap-free sequence number (Odoo) or "
                                          "increasing identifier (Dolibarr)."),
            "reference": in_language(lang, "The record's reference in the till's software (Odoo pos_reference, "
                                           "Dolibarr ref_object)."),
            "object_id": in_language(lang, "Identifier, in the till's tables, of the record this one seals (Odoo: "
                                           "pos_order.id; Dolibarr: fk_object, the invoice or the payment)."),
            "event": in_language(lang, "Kind of record in the software (pos.order; Dolibarr: BILL_VALIDATE, "
                                       "PAYMENT_CUSTOMER_CREATE…)."),
            "recipe": in_language(lang, "How the seal is recomputed: odoo-pos-sha256, dolibarr-blockedlog-v1, "
                                        "dolibarr-blockedlog-v2 (verify.py and its chains/ folder)."),
            "content": in_language(lang, "JSON object: the values the software hashed, raw as its tables hold "
                                         "them."),
            "previous_hash": in_language(lang, "Seal of the record before it, when the software keeps it."),
            "hash": in_language(lang, "The seal as the till wrote it (hexadecimal)."),
            "source_id": in_language(lang, "Identifier of the row in the till's table."),
        },
        "duplicates": {
            "": in_language(lang, "Duplicates: reprints of tickets, chained per till."),
            "register": till,
            "number": in_language(lang, "Number of the duplicate, sequential per till."),
            "ticket_number": in_language(lang, "Number of the ticket reprinted."),
            "reprint_no": in_language(lang, "Rank of the reprint of this ticket (1 for the first one)."),
            "timestamp": in_language(lang, "Date and time of the reprint."),
            "operator": in_language(lang, "Code of the operator."),
            "source_id": in_language(lang, "Identifier of the duplicate in the till's database."),
        },
    }
    texts = {("", field): text for field, text in shared.items()}
    for journal, fields in per_journal.items():
        texts.update({(journal, field): text for field, text in fields.items()})
    return texts
