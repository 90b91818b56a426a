"""PHP's own ways of printing values, redone byte for byte: a float as a string, json_encode, a date as a timestamp.

Dolibarr builds the strings it hashes with PHP: numbers glued into a string by `.` print as PHP's string cast does,
object data prints as json_encode does, dates come back from the database as Unix timestamps. Python prints all three
differently (repr(0.1 + 0.2), "\u00e9" against "é", "1e+25" against "1.0E+25"), so each is redone here from PHP's C
sources (php-src Zend/zend_strtod.c zend_gcvt, Zend/zend_smart_str.c smart_str_append_double, ext/json/
json_encoder.c), PHP 7.1 to 8.4 alike: standard library only, Python 3.6 syntax (verify.py ships this folder).
"""

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal

# php.ini defaults Dolibarr runs with: `precision` = 14 for a float cast to string (PHP 7 and 8 alike, PHP 8 only
# made it locale-independent), `serialize_precision` = -1 (the shortest string that reads back the same double,
# PHP >= 7.1) for json_encode.
PRECISION = 14
SERIALIZE_PRECISION = -1
INT_MAX = 2 ** 63 - 1  # PHP_INT_MAX on 64-bit PHP: json_decode turns a larger integer into a float


def _digits(value, precision):
    """(negative, significant digits without trailing zeros, decpt) as zend_dtoa gives them: the value is
    0.DIGITS x 10^decpt. precision <= 0: the shortest round trip (dtoa mode 0), else that many digits (mode 2)."""
    negative = str(value).startswith("-")  # -0.0 too: PHP prints "-0"
    magnitude = abs(value)
    if magnitude == 0:
        return negative, "0", 1
    if precision <= 0:
        text = repr(magnitude)  # Python's repr is the shortest round trip, as dtoa mode 0
    else:
        text = "%.*e" % (precision - 1, magnitude)  # correctly rounded to `precision` digits, as dtoa mode 2
    _sign, digits, exponent = Decimal(text).as_tuple()
    decpt = len(digits) + exponent  # before trailing zeros go: they do not move the point
    digits = "".join(map(str, digits)).rstrip("0") or "0"
    return negative, digits, decpt


def gcvt(value, precision, exponent_char):
    """zend_gcvt(value, precision, '.', exponent_char): PHP's float formatting. precision <= 0 means the
    shortest round trip with the exponent threshold at 17 digits, as serialize_precision = -1 does."""
    if value != value or value in (float("inf"), float("-inf")):
        return "NAN" if value != value else ("INF" if value > 0 else "-INF")
    if type(value) is float and value and exponent_char in ("e", "E"):  # 0.0 equals -0.0 as a key
        key = (value, precision, exponent_char)
        said = _PRINTED.get(key)
        if said is None:
            if len(_PRINTED) > 50000:
                _PRINTED.clear()
            said = _PRINTED[key] = _gcvt(value, precision, exponent_char)
        return said
    return _gcvt(value, precision, exponent_char)


# A till prints the same prices and quantities again and again, and each costs a Decimal: printed once each.
_PRINTED = {}


def _gcvt(value, precision, exponent_char):
    negative, digits, decpt = _digits(value, precision)
    ndigit = 17 if precision <= 0 else precision
    out = "-" if negative else ""
    if (decpt < -3) if decpt < 0 else (decpt > ndigit):
        # Exponential: one digit, the point, the rest (or 0), then the exponent's sign always and its digits.
        exp = decpt - 1
        out += digits[0] + "." + (digits[1:] or "0") + exponent_char + ("-" if exp < 0 else "+") + str(abs(exp))
    elif decpt < 0:
        out += "0." + "0" * (-decpt) + digits
    else:
        whole = digits[:decpt].ljust(decpt, "0")
        fraction = digits[decpt:]
        out += (whole or "0") + ("." + fraction if fraction else "")
    return out


def string(value):
    """PHP's (string) of a value as `.` concatenation prints it: null '', false '', true '1', ints in decimal,
    floats with `precision` (14) significant digits and 'E' (1.0E+25), strings as they are."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return gcvt(value, PRECISION, "E")
    return str(value)


def float_string(value):
    """(string) (float) value: what Dolibarr's `(float) $obj->amounts` prints as (PHP's float cast of a number or
    a numeric string; null and '' are 0.0)."""
    if value is None or value == "":
        return gcvt(0.0, PRECISION, "E")
    return gcvt(float(value), PRECISION, "E")


def truthy(value):
    """PHP's boolean value of a scalar: '', '0', 0, 0.0 and null are false."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


def json_decode(text):
    """json_decode($text) as PHP reads it: objects keep their key order (a dict), integers beyond PHP_INT_MAX
    become floats. Raises ValueError when the text is not JSON."""
    def integer(s):
        n = int(s)
        return float(s) if n > INT_MAX or n < -INT_MAX - 1 else n
    # No integer of 19 digits or more, so none beyond PHP_INT_MAX: no hook to call for every integer.
    if type(text) is str and _LONG_DIGITS.search(text) is None:
        return json.loads(text)
    return json.loads(text, parse_int=integer)


_LONG_DIGITS = re.compile(r"[0-9]{19}")


_HEX = "0123456789abcdef"
_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _json_string(s):
    # php_json_escape_string with no flag: '/' escaped, every non-ASCII character as \uXXXX in lower-case hex
    # (UTF-16 surrogate pairs beyond U+FFFF), other control characters as \u00XX; DEL (0x7f) stays as it is.
    # Python's json.dumps escapes the same way, in C, but for '/' (added after) and DEL (which it escapes: such a
    # string takes the long way below).
    if "\x7f" not in s:
        return json.dumps(s).replace("/", "\\/")
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif code < 0x20 or code >= 0x80:
            if code >= 0x10000:
                code -= 0x10000
                for unit in (0xD800 | (code >> 10), 0xDC00 | (code & 0x3FF)):
                    out.append("\\u" + "".join(_HEX[(unit >> s_) & 0xF] for s_ in (12, 8, 4, 0)))
            else:
                out.append("\\u" + "".join(_HEX[(code >> s_) & 0xF] for s_ in (12, 8, 4, 0)))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def json_encode(value, force_object=False):
    """json_encode($value) with PHP's default flags (plus JSON_FORCE_OBJECT when asked): no spaces, floats with
    serialize_precision -1 and 'e' (1.0e+25, 10.0 prints 10), lists as arrays unless forced to objects."""
    # Python's encoder, in C, prints all but floats as PHP does; each float goes in as a marker that no string of the
    # value holds, its own text put in its place after. One call per string took most of a Dolibarr walk's time.
    floats = []
    plain = _plain(value, force_object, floats)
    if plain is _SLOW:
        return _encode(value, force_object)
    text = json.dumps(plain, separators=(",", ":")).replace("/", "\\/")
    return _MARKER.sub(lambda m: floats[int(m.group(1))], text) if floats else text


_SLOW = object()
_MARKER = re.compile(r'"\\u0000(\d+)\\u0000"')


def json_reencode(text, force_object=False):
    """json_encode(json_decode($text)), the same as json_encode(json_decode(text)) here, in one pass of Python's
    C decoder and encoder for the usual text: floats go in as markers as they are read (json_decode's floats are
    read from their text, so nothing is lost), and no value needs to be looked at one by one. Texts that do
    (a DEL or NUL in a string, an integer beyond PHP_INT_MAX) take the long way. A Dolibarr walk spent a quarter of
    its time looking at each value of each record's object_data."""
    if type(text) is not str or "\x7f" in text or "\x00" in text or _ESCAPED_DEL_OR_NUL.search(text) \
            or _LONG_DIGITS.search(text):
        return json_encode(json_decode(text), force_object)
    floats = []

    def marker(number):
        floats.append(_encode(float(number)))
        return "\x00%d\x00" % (len(floats) - 1)

    value = json.loads(text, parse_float=marker, parse_constant=marker)
    if force_object and "[" in text:
        value = _objects(value)
    out = json.dumps(value, separators=(",", ":")).replace("/", "\\/")
    return _MARKER.sub(lambda m: floats[int(m.group(1))], out) if floats else out


_ESCAPED_DEL_OR_NUL = re.compile(r"\\u00(?:7[fF]|00)")


def _objects(value):
    """Every list in the value as the object JSON_FORCE_OBJECT prints it ({"0": ..., "1": ...})."""
    kind = type(value)
    if kind is list:
        return {str(i): _objects(item) for i, item in enumerate(value)}
    if kind is dict:
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                value[key] = _objects(item)
    return value


def _plain(value, force_object, floats):
    """The value as json.dumps would print it the way json_encode does, floats as markers (their text in `floats`),
    or _SLOW: a string with DEL (kept as it is by PHP) or NUL (the markers' own character), a key that is not a
    string, a type json_encode refuses."""
    kind = type(value)
    if kind is str:
        return _SLOW if "\x7f" in value or "\x00" in value else value
    if value is None or kind is bool or kind is int:
        return value
    if kind is float:
        floats.append(_encode(value))
        return "\x00%d\x00" % (len(floats) - 1)
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str or "\x7f" in key or "\x00" in key:
                return _SLOW
            kind = type(item)
            if kind is str:  # the leaves, most of a value, without a call each
                if "\x7f" in item or "\x00" in item:
                    return _SLOW
            elif not (kind is int or item is None or kind is bool):
                item = _plain(item, force_object, floats)
                if item is _SLOW:
                    return _SLOW
            out[key] = item
        return out
    if kind is list or kind is tuple:
        items = [_plain(item, force_object, floats) for item in value]
        if any(item is _SLOW for item in items):
            return _SLOW
        return {str(i): item for i, item in enumerate(items)} if force_object else items
    return _SLOW


def _encode(value, force_object=False):
    """json_encode() one value at a time: floats, and what _plain leaves to it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "0"  # PHP's JSON_ERROR_INF_OR_NAN writes 0 (and json_encode then fails)
        return gcvt(value, SERIALIZE_PRECISION, "e")
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, (list, tuple)):
        if force_object:
            return "{" + ",".join('"%d":%s' % (i, _encode(v, force_object)) for i, v in enumerate(value)) + "}"
        return "[" + ",".join(_encode(v, force_object) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_json_string(str(k)) + ":" + _encode(v, force_object)
                              for k, v in value.items()) + "}"
    raise TypeError(type(value).__name__)


def timestamp(text, gmt):
    """DoliDB::jdate($text, $gm) as an int: the Unix time of a 'YYYY-MM-DD HH:MM:SS' read back from the database,
    '' for NULL, '' and 0000-00-00 00:00:00 (jdate's own rule). A text with an offset ('+01:00' or 'Z', the zone
    already applied, as a mapping writes a server-local time) is that instant; one without is UTC when `gmt`
    (jdate's 'gmt'), else ValueError: the PHP server's zone ('tzserver') must be given as an offset."""
    if text is None:
        return ""
    text = str(text).strip()
    if text in ("", "0", "0000-00-00 00:00:00", "0000-00-00"):
        return ""
    stamp = text[:19].replace("T", " ")
    if len(stamp) == 10:
        stamp += " 00:00:00"
    if _PLAIN_STAMP.match(stamp):  # strptime's own reading of it, without its cost (a third of a Dolibarr walk's)
        naive = datetime(int(stamp[:4]), int(stamp[5:7]), int(stamp[8:10]), int(stamp[11:13]), int(stamp[14:16]),
                         int(stamp[17:19]))
    else:
        naive = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
    rest = text[19:]
    if rest[:1] == ".":
        rest = rest.lstrip(".0123456789")
    if rest in ("Z", "+00:00", "-00:00"):
        offset = timedelta(0)
    elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
        minutes = int(rest[1:3]) * 60 + int(rest[4:6])
        offset = timedelta(minutes=minutes if rest[0] == "+" else -minutes)
    elif rest == "" and gmt:
        offset = timedelta(0)
    else:
        raise ValueError(text)
    epoch = datetime(1970, 1, 1)
    return int(((naive - offset) - epoch).total_seconds())


_PLAIN_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\Z")
