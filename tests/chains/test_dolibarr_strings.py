"""Dolibarr's blockedlog seals redone byte for byte: expected strings and hashes written here as literals, derived from
Dolibarr's own code path, never recomputed by Coffre's code.

How the literals were made: the rows below (as MariaDB returns them to PHP's mysqli: amounts as '12.50000000', dates
as the server wrote them) were fed to a scratch PHP 8.2 script made of Dolibarr's own lines, with php.ini defaults
(precision=14, serialize_precision=-1) and date.timezone Europe/Paris:
  htdocs/blockedlog/class/blockedlog.class.php (Dolibarr 23, develop 2025), BlockedLog::fetch():
      $tz = 'gmt'; if (empty($obj->object_format) || $obj->object_format == 'V1') { $tz = 'tzserver'; }
      $this->date_creation = $this->db->jdate($obj->date_creation, $tz);
      $this->amounts_taxexcl = (is_null($obj->amounts_taxexcl) ? null : (float) $obj->amounts_taxexcl);
      $this->amounts = (float) $obj->amounts;
      $this->date_object = $this->db->jdate($obj->date_object, $tz);
      $this->object_data = $this->dolDecodeBlockedData($obj->object_data);   // (object) json_decode(...)
  buildFirstPartOfKeyForSignature(), V1:
      return $this->date_creation.'|'.$this->action.'|'.$this->amounts.'|'.$this->ref_object.'|'.
             $this->date_object.'|'.$this->user_fullname;
  V2:
      $s = $this->entity;
      $s .= '|'.$this->date_creation.'|'.$this->action.'|'.$this->module_source.'|'.$this->pos_source.'|'.$this->amounts_taxexcl;
      $s .= '|'.$this->amounts.'|'.$this->ref_object.'|'.$this->date_object.'|'.$this->user_fullname;
      if ($this->type_code) { $s .= '|'.(string) $this->type_code; }
      $s .= '|'.(string) $this->linktoref;  $s .= '|'.(string) $this->linktype;
      if ($this->note) { $s .= '|'.(string) $this->note; }
  buildKeyForSignature(): ... .'|'.json_encode($this->object_data, JSON_FORCE_OBJECT)
  buildFinalSignatureHash(): V1 dol_hash($clearstring, '5') = hash('sha256', MAIN_SECURITY_SALT.$clearstring);
                             V2 hash_hmac('sha256', $clearstring, $hmac_secret_key)
  checkSignature(): $signature = $this->buildFinalSignatureHash($previoushash.$concatenateddata);
  htdocs/core/db/DoliDB.class.php jdate(): "if ($string == 0 || $string == "0000-00-00 00:00:00") return '';"
      then dol_mktime(h, m, s, month, day, year, $gm) ('tzserver': PHP's date.timezone, 'gmt': UTC).
The content given to the recipe is what the dolibarr-pos mapping yields from the SQLite mirror: amounts as REAL,
V1 dates through coffre_local_time (the server's Europe/Paris offset written out), V2 dates as stored (UTC).
"""

from __future__ import annotations

import pytest

from pipeline.chains import ContentError, php, recipe
from pipeline.chains.dolibarr_blockedlog import RECIPE_V1, RECIPE_V2

FINGERPRINT = "3b7a1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b"
PREVIOUS_V1 = "5f0c1e8a2d4b6c8e0a1b3c5d7e9f1a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d2e4f"
PREVIOUS_V2 = "9d2b0e4c6a8f1d3b5e7c9a0f2d4b6e8c1a3f5d7b9e0c2a4f6d8b1e3c5a7f9d0b"
# The clear HMAC key of Dolibarr's old demo database, quoted in getClearHMACSecretKey()'s comment.
HMAC_KEY = b"BLOCKEDLOGHMACY3Ewx37RXbSd8gL9JV8p7Wqw7qvq2K2A"


def _content(**given):
    base = {"entity": 1, "module_source": "", "pos_source": "", "amounts_taxexcl": None, "type_code": "",
            "linktoref": None, "linktype": None, "note": None, "fingerprint": None, "salt": None}
    base.update(given)
    return {"content": base}


# A TakePOS invoice validated at 10:30 in Paris in winter (stored '2024-01-15 10:30:00', server time): accents and
# a slash in the stored JSON (json_encode's \u00e9 and \/), a quoted string, floats 0.35 and 27.48815166, a rate
# kept as the string "5.500", whole floats stored as ints.
INVOICE_V1 = _content(
    date_creation="2024-01-15T10:30:00+01:00", action="BILL_VALIDATE", amounts=12.5, ref_object="FA2401-0001",
    date_object="2024-01-15T00:00:00+01:00", user_fullname="Hélène Martin",
    object_data='{"mycompany":{"name":"Fromagerie du March\\u00e9","address":"12 rue des Halles \\/ B\\u00e2t. A",'
                '"idprof1":"123456789","tva_assuj":1},"ref":"FA2401-0001","type":0,"date":1705273200,'
                '"total_ht":11.85,"total_tva":0.65,"total_ttc":12.5,"localtax1":0,"module_source":"takepos",'
                '"pos_source":"1","invoiceline":{"1":{"ref":"PAIN-EPI","product_label":"Pain d\'\\u00e9pices 1\\/2",'
                '"qty":0.35,"subprice":27.48815166,"tva_tx":"5.500","total_ht":9.62,"total_ttc":10.15},'
                '"2":{"ref":"CAFE","product_label":"Caf\\u00e9 \\"serr\\u00e9\\"","qty":1,"subprice":2.13636364,'
                '"tva_tx":10,"total_ht":2.14,"total_ttc":2.35}}}',
    fingerprint=FINGERPRINT)
INVOICE_V1_TEXT = (
    '1705311000|BILL_VALIDATE|12.5|FA2401-0001|1705273200|Hélène Martin|{"mycompany":{"name":"Fromagerie du '
    'March\\u00e9","address":"12 rue des Halles \\/ B\\u00e2t. A","idprof1":"123456789","tva_assuj":1},'
    '"ref":"FA2401-0001","type":0,"date":1705273200,"total_ht":11.85,"total_tva":0.65,"total_ttc":12.5,'
    '"localtax1":0,"module_source":"takepos","pos_source":"1","invoiceline":{"1":{"ref":"PAIN-EPI",'
    '"product_label":"Pain d\'\\u00e9pices 1\\/2","qty":0.35,"subprice":27.48815166,"tva_tx":"5.500",'
    '"total_ht":9.62,"total_ttc":10.15},"2":{"ref":"CAFE","product_label":"Caf\\u00e9 \\"serr\\u00e9\\"","qty":1,'
    '"subprice":2.13636364,"tva_tx":10,"total_ht":2.14,"total_ttc":2.35}}}')
INVOICE_V1_SEAL = "c8fc262e3361ec116529507525642f3b78d23958c4a3cfc6fdc9555a2b720b62"

# The module's own first record (modBlockedLog: MODULE_SET, amounts 0, summer time): amounts '0.00000000' prints
# "0", a NULL date_object "" (jdate's "$string == 0" rule), an empty object_data "{}".
MODULE_SET_V1 = _content(
    date_creation="2024-07-01T09:00:05+02:00", action="MODULE_SET", amounts=0, ref_object="systemevent",
    date_object=None, user_fullname="(Anonymous)", object_data="{}", fingerprint=FINGERPRINT)
MODULE_SET_V1_TEXT = "1719817205|MODULE_SET|0|systemevent||(Anonymous)|{}"
MODULE_SET_V1_SEAL = "d3987790d306effc9dfa7c020c51fb8e57429a8ac41810e6dd1f463e81049b83"

# A payment one second before the spring change (01:59:59 +01:00): the column's 0.30000000 is the float 0.3 and
# prints "0.3" (precision 14) in the key, while the object data's 0.1 + 0.2 prints 0.30000000000000004
# (serialize_precision -1), a number kept as a string stays a string.
PAYMENT_V1 = _content(
    date_creation="2024-03-31T01:59:59+01:00", action="PAYMENT_CUSTOMER_CREATE", amounts=0.3,
    ref_object="PAY2403-0007", date_object="2024-03-31T01:59:00+01:00", user_fullname="Hélène Martin",
    object_data='{"ref":"PAY2403-0007","date":1711846740,"type_code":"LIQ","payment_part":{"1":{"amount":'
                '0.30000000000000004,"invoice":{"ref":"FA2403-0042","total_ttc":"0.30000000"}}},'
                '"amount":0.30000000000000004}')
PAYMENT_V1_TEXT = (
    '1711846799|PAYMENT_CUSTOMER_CREATE|0.3|PAY2403-0007|1711846740|Hélène Martin|{"ref":"PAY2403-0007",'
    '"date":1711846740,"type_code":"LIQ","payment_part":{"1":{"amount":0.30000000000000004,"invoice":'
    '{"ref":"FA2403-0042","total_ttc":"0.30000000"}}},"amount":0.30000000000000004}')
PAYMENT_V1_SEAL = "8791bcfa1107d1b0d622d9be6a411b168439e2484eb10d98fc1e5b738eac3f06"

# A cash desk closing with a MAIN_SECURITY_SALT set (dol_hash prefixes it): 1234567.891 keeps its digits.
CLOSING_V1 = _content(
    date_creation="2024-11-02T18:45:00+01:00", action="CASHCONTROL_VALIDATE", amounts=1234567.891, ref_object="12",
    date_object="2024-11-02T18:44:00+01:00", user_fullname="Hélène Martin",
    object_data='{"ref":"12","opening":0,"cash":1000000.5,"card":234567.391,"cheque":0,"posmodule":"takepos",'
                '"posnumber":"1","period":"2024-11-02"}', salt="s4lt")
CLOSING_V1_TEXT = (
    '1730569500|CASHCONTROL_VALIDATE|1234567.891|12|1730569440|Hélène Martin|{"ref":"12","opening":0,'
    '"cash":1000000.5,"card":234567.391,"cheque":0,"posmodule":"takepos","posnumber":"1","period":"2024-11-02"}')
CLOSING_V1_SEAL = "8027cffdd0f3d51abccdf678ec8e7750180b8578e7ae38583d85b2adbc7c065f"

# Object data that json_encode does not give back as stored: unescaped accents and slash, 10.0 (prints 10), 1E2
# (a float: 100), an integer beyond PHP_INT_MAX (a float), lists and an empty list (objects under
# JSON_FORCE_OBJECT), a tab, DEL left as it is, an emoji as a surrogate pair; amounts -0.00000000 prints "-0",
# a 0000-00-00 00:00:00 date prints "".
ODD_V1 = _content(
    date_creation="2024-10-27T09:05:00+01:00", action="DOC_PREVIEW", amounts=-0.0, ref_object="FA2410-0099",
    date_object="0000-00-00 00:00:00", user_fullname="Jean-Noël",
    object_data='{"label":"Crème brûlée / part","total_ttc":10.0,"qty":1E2,"big":12345678901234567890,'
                '"list":["a","b"],"empty":[],"ctl":"a\\tb\x7f","emoji":"\U0001F600"}')
ODD_V1_TEXT = (
    '1730016300|DOC_PREVIEW|-0|FA2410-0099||Jean-Noël|{"label":"Cr\\u00e8me br\\u00fbl\\u00e9e \\/ part",'
    '"total_ttc":10,"qty":100,"big":1.2345678901234567e+19,"list":{"0":"a","1":"b"},"empty":{},'
    '"ctl":"a\\tb\x7f","emoji":"\\ud83d\\ude00"}')
ODD_V1_SEAL = "dbb1beaa9843b4448e2dd29b700a75ac9d70c76169095624eb5c9ecb42dfca20"

# V2 (UTC in the table): a TakePOS payment, type_code kept, amounts_taxexcl NULL prints "", 30.0 prints "30".
PAYMENT_V2 = _content(
    date_creation="2025-07-01 08:15:30", action="PAYMENT_CUSTOMER_CREATE", module_source="takepos", pos_source="1",
    amounts=30.0, ref_object="PAY2507-0001", date_object="2025-07-01 08:15:00", user_fullname="Hélène Martin",
    type_code="LIQ", linktoref="FA2507-0003", linktype="payment",
    object_data='{"ref":"PAY2507-0001","date":1751357700,"type_code":"LIQ","payment_part":{"1":{"amount":30,'
                '"invoice":{"ref":"FA2507-0003","total_ttc":30,"module_source":"takepos","pos_source":"1"}}},'
                '"amount":30}')
PAYMENT_V2_TEXT = (
    '1|1751357730|PAYMENT_CUSTOMER_CREATE|takepos|1||30|PAY2507-0001|1751357700|Hélène Martin|LIQ|FA2507-0003|'
    'payment|{"ref":"PAY2507-0001","date":1751357700,"type_code":"LIQ","payment_part":{"1":{"amount":30,'
    '"invoice":{"ref":"FA2507-0003","total_ttc":30,"module_source":"takepos","pos_source":"1"}}},"amount":30}')
PAYMENT_V2_SEAL = "f7ea55cb61dc7c52e06df3aeefd5f117eba1b60c51597a05d40e630c784c39a4"

# V2 credit note: type_code "0" is false for PHP (left out), a note is kept, a negative amount, a date_object at
# Paris midnight stored as 22:00 UTC the day before.
CREDIT_NOTE_V2 = _content(
    date_creation="2025-07-01 08:14:58", action="BILL_VALIDATE", module_source="takepos", pos_source="1",
    amounts_taxexcl=10.42, amounts=-12.5, ref_object="AV2507-0001", date_object="2025-06-30 22:00:00",
    user_fullname="Hélène Martin", type_code="0", linktoref="FA2506-0120", linktype="credit_note_of",
    note="EndOfChainDeletionDetected [after 2025-07-01T08:10:00Z]",
    object_data='{"link":"credit_note_of FA2506-0120","ref":"AV2507-0001","type":2,"total_ht":-10.42,'
                '"total_tva":-2.08,"total_ttc":-12.5,"pos_print_counter":0,"invoiceline":{"1":{"qty":-1,'
                '"subprice":10.41666667,"tva_tx":20}}}')
CREDIT_NOTE_V2_TEXT = (
    '1|1751357698|BILL_VALIDATE|takepos|1|10.42|-12.5|AV2507-0001|1751320800|Hélène Martin|FA2506-0120|'
    'credit_note_of|EndOfChainDeletionDetected [after 2025-07-01T08:10:00Z]|{"link":"credit_note_of FA2506-0120",'
    '"ref":"AV2507-0001","type":2,"total_ht":-10.42,"total_tva":-2.08,"total_ttc":-12.5,"pos_print_counter":0,'
    '"invoiceline":{"1":{"qty":-1,"subprice":10.41666667,"tva_tx":20}}}')
CREDIT_NOTE_V2_SEAL = "76ec730f599b740bddba3883b403138ace17a0590c298341591e9e67ee7c92c1"


@pytest.mark.parametrize("record, text, previous, seal", [
    (INVOICE_V1, INVOICE_V1_TEXT, "", INVOICE_V1_SEAL),  # the chain's first: linked to the entity's fingerprint
    (MODULE_SET_V1, MODULE_SET_V1_TEXT, FINGERPRINT, MODULE_SET_V1_SEAL),
    (PAYMENT_V1, PAYMENT_V1_TEXT, PREVIOUS_V1, PAYMENT_V1_SEAL),
    (CLOSING_V1, CLOSING_V1_TEXT, PREVIOUS_V1, CLOSING_V1_SEAL),
    (ODD_V1, ODD_V1_TEXT, FINGERPRINT, ODD_V1_SEAL),
], ids=["invoice", "module-set-amount-0", "payment-float", "closing-salt", "json-reencoded"])
def test_v1_key_and_seal_are_dolibarrs(record, text, previous, seal):
    assert RECIPE_V1.text(record) == text
    assert RECIPE_V1.seal(previous, record, None) == seal
    assert RECIPE_V1.seal(previous, record, HMAC_KEY) == seal  # a secret given changes nothing for V1


@pytest.mark.parametrize("record, text, seal", [
    (PAYMENT_V2, PAYMENT_V2_TEXT, PAYMENT_V2_SEAL),
    (CREDIT_NOTE_V2, CREDIT_NOTE_V2_TEXT, CREDIT_NOTE_V2_SEAL),
], ids=["payment", "credit-note-note"])
def test_v2_key_and_hmac_are_dolibarrs(record, text, seal):
    assert RECIPE_V2.text(record) == text
    assert RECIPE_V2.seal(PREVIOUS_V2, record, HMAC_KEY) == seal
    assert RECIPE_V2.seal(PREVIOUS_V2, record, b"BLOCKEDLOGHMACanother") != seal


def test_amounts_given_as_the_doubles_exact_text_print_the_same():
    # The mapping writes amounts with printf('%!.17g') (SQLite's JSON keeps only 15 digits of a REAL): the same double.
    as_text = {"content": PAYMENT_V1["content"] | {"amounts": "0.30000000000000004"}}
    assert RECIPE_V1.text(as_text) == PAYMENT_V1_TEXT
    as_text = {"content": CLOSING_V1["content"] | {"amounts": "1234567.8910000001"}}
    assert RECIPE_V1.seal(PREVIOUS_V1, as_text, None) == CLOSING_V1_SEAL


def test_the_recipes_are_registered_by_name_with_their_links():
    assert recipe("dolibarr-blockedlog-v1") is RECIPE_V1 and recipe("dolibarr-blockedlog-v2") is RECIPE_V2
    assert (RECIPE_V1.secret, RECIPE_V2.secret) == (False, True)
    assert RECIPE_V1.previous == RECIPE_V2.previous == "order"
    assert RECIPE_V1.first_previous == RECIPE_V2.first_previous == ""


def test_a_missing_value_is_named():
    broken = {"content": dict(PAYMENT_V1["content"])}
    del broken["content"]["ref_object"]
    with pytest.raises(ContentError, match="ref_object"):
        RECIPE_V1.text(broken)
    # The first record needs the entity's fingerprint; a V1 date needs the server's offset; V2 needs the secret.
    with pytest.raises(ContentError, match="fingerprint"):
        RECIPE_V1.seal("", MODULE_SET_V1 | {"content": MODULE_SET_V1["content"] | {"fingerprint": None}}, None)
    with pytest.raises(ContentError, match="date_creation"):
        RECIPE_V1.text({"content": PAYMENT_V1["content"] | {"date_creation": "2024-03-31 01:59:59"}})
    with pytest.raises(ContentError, match="object_data"):
        RECIPE_V1.text({"content": PAYMENT_V1["content"] | {"object_data": "{not json"}})
    with pytest.raises(ContentError, match="secret"):
        RECIPE_V2.seal(PREVIOUS_V2, PAYMENT_V2, None)


# PHP 8.2's own output for these values (php -r 'echo (string) $v, " ", json_encode($v);'), precision=14,
# serialize_precision=-1: a float in a key prints like the first, in object data like the second.
@pytest.mark.parametrize("value, as_string, as_json", [
    (0.0, "0", "0"), (-0.0, "-0", "-0"), (12.5, "12.5", "12.5"), (100.0, "100", "100"),
    (0.1 + 0.2, "0.3", "0.30000000000000004"), (1 / 3, "0.33333333333333", "0.3333333333333333"),
    (1e14, "1.0E+14", "100000000000000"), (123456789012345.0, "1.2345678901234E+14", "123456789012345"),
    (1e15, "1.0E+15", "1000000000000000"), (1e16, "1.0E+16", "10000000000000000"), (1e17, "1.0E+17", "1.0e+17"),
    (1e25, "1.0E+25", "1.0e+25"), (0.0001, "0.0001", "0.0001"), (1e-05, "1.0E-5", "1.0e-5"),
    (1.5e-05, "1.5E-5", "1.5e-5"), (-3.3, "-3.3", "-3.3"), (99999999999999.98, "1.0E+14", "99999999999999.98"),
    (9.223372036854776e18, "9.2233720368548E+18", "9.223372036854776e+18"),
])
def test_php_float_printing(value, as_string, as_json):
    assert php.string(value) == as_string
    assert php.json_encode(value) == as_json


def test_php_dates_are_jdate():
    # jdate('2024-01-15 10:30:00', 'gmt') = 1705314600; the same in Paris ('tzserver') = 1705311000.
    assert php.timestamp("2024-01-15 10:30:00", True) == 1705314600
    assert php.timestamp("2024-01-15T10:30:00+01:00", False) == 1705311000
    assert php.timestamp(None, True) == php.timestamp("0000-00-00 00:00:00", True) == ""


# json_reencode reads and prints in one pass what json_encode(json_decode(...)) does value by value: the texts where
# the two could part (floats, PHP's constants, arrays forced to objects, a DEL or NUL, integers past PHP_INT_MAX,
# slashes, characters beyond U+FFFF) print the same both ways.
@pytest.mark.parametrize("text", [
    '{"amount":35.7,"qty":1,"ref":"FA2501/0047","lines":[{"p":1.0},{"p":-0.0}],"e":[]}',
    '{"a":1e17,"b":1e16,"c":0.1,"d":2.5e-7,"e":1E400,"f":-1e400,"g":NaN,"h":Infinity}',
    '[1,2.0,"x",[3,[4.5]],{}]', '{"big":99999999999999999999,"edge":9223372036854775807}',
    '{"del":"a\x7fb"}', '{"del":"a\\u007Fb","nul":"\\u0000"}', '{"k\\u0000":1.5}', '{"s":"\\\\u0000 is text"}',
    '{"emoji":"😀 \\ud83d\\ude00 é \\u2028","slash":"\\/a/b"}', '"plain"', '12.0', 'null', '{"a":{"a":{"a":[[]]}}}',
])
@pytest.mark.parametrize("force", [True, False])
def test_json_reencode_prints_what_decode_then_encode_prints(text, force):
    assert php.json_reencode(text, force) == php.json_encode(php.json_decode(text), force)


def test_json_reencode_refuses_what_json_decode_refuses():
    for text in ("{not json", '{"a":1', ""):
        with pytest.raises(ValueError):
            php.json_reencode(text, True)


@pytest.mark.parametrize("stamp", ["2024-02-29 23:59:59", "2024-02-30 00:00:00", "2024-13-01 00:00:00",
                                   "2024-01-15 10:30:60", "0000-01-01 00:00:00", "2024-1-5 1:2:3", "2024-01-15 10:3a:00"])
def test_php_dates_read_as_strptime_reads_them(stamp):
    from datetime import datetime

    try:
        want = int((datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S") - datetime(1970, 1, 1)).total_seconds())
    except ValueError:
        with pytest.raises(ValueError):
            php.timestamp(stamp, True)
    else:
        assert php.timestamp(stamp, True) == want
