"""Odoo's point-of-sale recipe is byte-compatible with l10n_fr_pos_cert (16.0 / 17.0): the strings and hashes below are
written by hand from Odoo's own code path, never computed by Coffre.

Odoo's lines reproduced (addons/l10n_fr_pos_cert/models/pos.py, 16.0 and 17.0):
    ORDER_FIELDS = ['date_order', 'user_id', 'lines', 'payment_ids', 'pricelist_id', 'partner_id', 'session_id',
                    'pos_reference', 'sale_journal', 'fiscal_position_id']
    LINE_FIELDS = ['notice', 'product_id', 'qty', 'price_unit', 'discount', 'tax_ids', 'tax_ids_after_fiscal_position']
    _getattrstring: field_value = obj[field_str]; many2one -> field_value.id; one2many/many2many ->
                    field_value.sorted().ids (payment_ids: sorted(field_value.ids, reverse=True)); return str(field_value)
    values['line_%d_%s' % (line.id, field)] for each line and LINE_FIELDS
    dumps(values, sort_keys=True, ensure_ascii=True, indent=None, separators=(',',':'))
    _compute_hash: sha256((previous_hash + self.l10n_fr_string_to_hash).encode('utf-8')).hexdigest()
    _get_new_hash: prev_order.l10n_fr_hash if prev_order else u''
"""

import json
from datetime import datetime

import pytest

from pipeline.chains import recipe
from pipeline.chains.content import ContentError
from pipeline.chains.odoo_pos import RECIPE, float_round

# Order 1, the company's first hashed order: one line, no customer, no fiscal position.
ORDER_1 = {
    "order": {"date_order": "2024-01-15 10:30:00", "user_id": 2, "pricelist_id": 1, "partner_id": None,
              "session_id": 3, "pos_reference": "Order 00003-001-0001", "sale_journal": 5, "fiscal_position_id": None},
    "lines": [{"id": 11, "notice": None, "product_id": 4, "qty": 1, "price_unit": 10, "discount": 0,
               "tax_ids": [[1, 1]]}],
    "payment_ids": [21],
    "fiscal_position_taxes": [],
    "digits": {"qty": 3},
}
# str(datetime(2024, 1, 15, 10, 30)) = '2024-01-15 10:30:00'; partner_id: an empty many2one's .id is False -> 'False';
# notice NULL: a Char read back is False -> 'False'; qty 1.0 (numeric '1.000' made a float) -> '1.0'; price_unit '10.0';
# discount '0.0'; tax_ids [1] -> '[1]'; no fiscal position: map_tax returns tax_ids -> '[1]'; lines '[11]';
# payments '[21]'. Keys sorted: 'line_11_...' before 'lines' ('_' < 's').
STRING_1 = ('{"date_order":"2024-01-15 10:30:00","fiscal_position_id":"False","line_11_discount":"0.0",'
            '"line_11_notice":"False","line_11_price_unit":"10.0","line_11_product_id":"4","line_11_qty":"1.0",'
            '"line_11_tax_ids":"[1]","line_11_tax_ids_after_fiscal_position":"[1]","lines":"[11]",'
            '"partner_id":"False","payment_ids":"[21]","pos_reference":"Order 00003-001-0001","pricelist_id":"1",'
            '"sale_journal":"5","session_id":"3","user_id":"2"}')
# sha256(('' + STRING_1).encode('utf-8')).hexdigest()
HASH_1 = "27a5a22a0e7f36f1a383ebedf09bcb26588462f6db8bd4b42147b60a54479c41"

# Order 2, linked to order 1: three lines (ids 9, 10, 11), a customer, a fiscal position, three payments, a date with
# microseconds, a weighed quantity, a price of 0.57, a refunded line, taxes whose sequence is not their id order.
ORDER_2 = {
    "order": {"date_order": "2024-03-05 17:45:09.5", "user_id": 6, "pricelist_id": 1, "partner_id": 14,
              "session_id": 3, "pos_reference": "Order 00003-001-0002", "sale_journal": 5, "fiscal_position_id": 2},
    "lines": [
        {"id": 10, "notice": "Remise fidélité", "product_id": 12, "qty": 2, "price_unit": 3.3, "discount": 12.5,
         "tax_ids": [[5, 3], [1, 7]]},
        {"id": 9, "notice": None, "product_id": 4, "qty": 0.345, "price_unit": 0.57, "discount": 0,
         "tax_ids": [[5, 3]]},
        {"id": 11, "notice": "", "product_id": 13, "qty": -1, "price_unit": 1.1, "discount": 0, "tax_ids": []},
    ],
    "payment_ids": [31, 30, 32],
    # account_fiscal_position_tax of position 2: tax 3 -> tax 8 (sequence 2); tax 7 -> no tax.
    "fiscal_position_taxes": [[3, 8, 2], [7, None, None]],
    "digits": {"qty": 3},
}
# date_order: PostgreSQL's '17:45:09.5' is datetime(2024, 3, 5, 17, 45, 9, 500000), str() '2024-03-05 17:45:09.500000'.
# lines: order.lines.sorted().ids (pos.order.line has no _order: 'id') -> '[9, 10, 11]', while the keys sort as
# text: 'line_10_' < 'line_11_' < 'line_9_'.
# payment_ids: pos.payment _order = 'id desc' -> '[32, 31, 30]' whatever order they were made in.
# line 10 tax_ids: account.tax _order = 'sequence,id': tax 7 (sequence 1) before tax 3 (sequence 5) -> '[7, 3]';
#   after the fiscal position (map_tax: 3 -> 8, 7 -> nothing) -> '[8]'.
# line 10 notice: ensure_ascii writes 'é' as \u00e9. qty 2.0, price 3.3, discount 12.5 (digits=0: never rounded).
# line 9: qty numeric '0.345' read back as float('0.345') -> '0.345'; price_unit '0.57'; tax 3 -> 8.
# line 11: notice '' (not NULL) -> ''; qty -1.0 (a refunded article); no taxes -> '[]'.
STRING_2 = ('{"date_order":"2024-03-05 17:45:09.500000","fiscal_position_id":"2","line_10_discount":"12.5",'
            '"line_10_notice":"Remise fid\\u00e9lit\\u00e9","line_10_price_unit":"3.3","line_10_product_id":"12",'
            '"line_10_qty":"2.0","line_10_tax_ids":"[7, 3]","line_10_tax_ids_after_fiscal_position":"[8]",'
            '"line_11_discount":"0.0","line_11_notice":"","line_11_price_unit":"1.1","line_11_product_id":"13",'
            '"line_11_qty":"-1.0","line_11_tax_ids":"[]","line_11_tax_ids_after_fiscal_position":"[]",'
            '"line_9_discount":"0.0","line_9_notice":"False","line_9_price_unit":"0.57","line_9_product_id":"4",'
            '"line_9_qty":"0.345","line_9_tax_ids":"[3]","line_9_tax_ids_after_fiscal_position":"[8]",'
            '"lines":"[9, 10, 11]","partner_id":"14","payment_ids":"[32, 31, 30]","pos_reference":"Order 00003-001-0002",'
            '"pricelist_id":"1","sale_journal":"5","session_id":"3","user_id":"6"}')
# sha256((HASH_1 + STRING_2).encode('utf-8')).hexdigest()
HASH_2 = "6fe394d2e7315e290c85b70c76ffc5f83259f5fbc0805668bf970ea6a0a3eac3"

# The same order as hashed in the transaction that posted it: line 9's qty is still the ORM cache's
# Float.convert_to_cache value, float_round(0.345, precision_digits=3) = 345 * 0.001 = 0.34500000000000003.
STRING_2_POSTING = STRING_2.replace('"line_9_qty":"0.345"', '"line_9_qty":"0.34500000000000003"')
HASH_2_POSTING = "4f217fb244dafa3d6b0e5a5d40c30be289b14e393aa1a400ee9a0fcfc9639a25"


def record(content, sequence, stored=None):
    return {"chain": "1", "sequence": sequence, "reference": content["order"]["pos_reference"], "event": "pos.order",
            "recipe": "odoo-pos-sha256", "content": content, "previous_hash": None, "hash": stored, "source_id": sequence}


def odoo_string(values):
    """Odoo's last step, on values as _getattrstring returns them (str() of what the ORM gives)."""
    return json.dumps(values, sort_keys=True, ensure_ascii=True, indent=None, separators=(",", ":"))


def test_the_literal_strings_are_what_odoos_code_path_gives_from_the_orms_values():
    # The expected literals themselves, held to Odoo's steps on the Python values its ORM reads: a datetime,
    # ints and False for many2ones, floats, lists of ids.
    values = {"date_order": str(datetime(2024, 1, 15, 10, 30)), "user_id": str(2), "lines": str([11]),
              "payment_ids": str(sorted([21], reverse=True)), "pricelist_id": str(1), "partner_id": str(False),
              "session_id": str(3), "pos_reference": "Order 00003-001-0001", "sale_journal": str(5),
              "fiscal_position_id": str(False)}
    values.update({"line_11_notice": str(False), "line_11_product_id": str(4), "line_11_qty": str(1.0),
                   "line_11_price_unit": str(10.0), "line_11_discount": str(0.0), "line_11_tax_ids": str([1]),
                   "line_11_tax_ids_after_fiscal_position": str([1])})
    assert odoo_string(values) == STRING_1
    assert str(datetime(2024, 3, 5, 17, 45, 9, 500000)) == "2024-03-05 17:45:09.500000"
    assert str(float("0.345")) == "0.345" and str(float("0.57")) == "0.57"


def test_the_first_order_of_a_company_hashes_odoos_string_after_the_empty_previous_hash():
    assert RECIPE.name == "odoo-pos-sha256" and recipe("odoo-pos-sha256") is RECIPE
    assert RECIPE.previous == "sequence" and RECIPE.first_previous == "" and RECIPE.secret is False
    rec = record(ORDER_1, 1, HASH_1)
    assert RECIPE.text(rec) == STRING_1
    assert RECIPE.seal("", rec, None) == HASH_1


def test_several_lines_taxes_a_fiscal_position_payments_and_microseconds_give_odoos_string():
    rec = record(ORDER_2, 2, HASH_2)
    assert RECIPE.text(rec) == STRING_2
    assert RECIPE.seal(HASH_1, rec, None) == HASH_2


def test_an_order_hashed_when_posted_with_the_caches_rounded_quantity_is_sealed_as_stored():
    # Odoo 16/17's float_round (odoo/tools/float_utils.py) leaves these, the cause of the two strings:
    assert repr(float_round(0.345, 3)) == "0.34500000000000003"
    assert repr(float_round(0.57, 2)) == "0.5700000000000001"
    assert repr(float_round(2.5, 0)) == "3.0" and repr(float_round(-2.5, 0)) == "-3.0"  # half away from zero
    assert repr(float_round(1.0, 3)) == "1.0"
    rec = record(ORDER_2, 2, HASH_2_POSTING)
    assert RECIPE.posting_text(rec) == STRING_2_POSTING
    assert RECIPE.seal(HASH_1, rec, None) == HASH_2_POSTING
    # Neither string stored (the order was changed): the seal is the read-back one, which differs from the stored.
    changed = json.loads(json.dumps(ORDER_2))
    changed["lines"][1]["qty"] = 0.346
    assert RECIPE.seal(HASH_1, record(changed, 2, HASH_2_POSTING), None) not in (HASH_2, HASH_2_POSTING)


@pytest.mark.parametrize("change", [
    lambda c: c["lines"][0].update(qty=3),  # a changed line quantity
    lambda c: c["order"].update(date_order="2024-03-05 17:45:10"),  # an edited date_order
    lambda c: c["payment_ids"].append(33),  # a payment added
    lambda c: c["lines"][0].update(tax_ids=[[0, 3], [1, 7]]),  # tax 3's sequence changed: [7, 3] becomes [3, 7]
    lambda c: c["fiscal_position_taxes"].pop(),  # the fiscal position's mapping changed
])
def test_what_odoo_hashes_changes_the_seal(change):
    content = json.loads(json.dumps(ORDER_2))
    change(content)
    assert RECIPE.seal(HASH_1, record(content, 2, HASH_2), None) != HASH_2


def test_floats_given_as_the_mappings_exact_text_give_the_same_string():
    # The mapping writes each float as printf('%!.17g'): 0.345 is '0.34499999999999997', the same double, whose str()
    # is '0.345'. A price a pricelist computed keeps all its digits: str(4.9 * 0.9) is '4.410000000000001'.
    content = json.loads(json.dumps(ORDER_2))
    line_9 = content["lines"][1]
    line_9.update(qty="0.34499999999999997", price_unit="0.56999999999999995", discount="0.0")
    assert RECIPE.seal(HASH_1, record(content, 2, HASH_2), None) == HASH_2
    line_9.update(price_unit="4.410000000000001")
    assert '"line_9_price_unit":"4.410000000000001"' in RECIPE.text(record(content, 2))


def test_what_odoo_does_not_hash_leaves_the_seal():
    # The order in which the rows come (lines, payments, taxes) is not Odoo's: it sorts them itself.
    content = json.loads(json.dumps(ORDER_2))
    content["lines"].reverse()
    content["payment_ids"] = [30, 32, 31]
    content["lines"][-1]["tax_ids"] = [[1, 7], [5, 3]]
    assert RECIPE.seal(HASH_1, record(content, 2, HASH_2), None) == HASH_2


def test_a_tax_without_sequence_sorts_last_and_a_mapping_to_two_taxes_gives_both():
    content = json.loads(json.dumps(ORDER_1))
    content["order"]["fiscal_position_id"] = 4
    content["lines"][0]["tax_ids"] = [[None, 2], [9, 6]]
    content["fiscal_position_taxes"] = [[6, 15, 3], [6, 14, None]]
    text = RECIPE.text(record(content, 1))
    # ORDER BY sequence, id in PostgreSQL: NULL last -> [6, 2]; map_tax: 6 -> 15 and 14, 2 stays -> sequences 3, NULL,
    # NULL -> [15, 2, 14].
    assert '"line_11_tax_ids":"[6, 2]"' in text
    assert '"line_11_tax_ids_after_fiscal_position":"[15, 2, 14]"' in text
    # Rows of a fiscal position are ignored when the order has none (map_tax on an empty position returns tax_ids).
    content["order"]["fiscal_position_id"] = None
    assert '"line_11_tax_ids_after_fiscal_position":"[6, 2]"' in RECIPE.text(record(content, 1))


def test_an_order_of_odoo_17_4_and_later_hashes_its_pos_version_instead_of_the_customer():
    # ORDER_FIELDS_FROM_17_4 (pos.py, saas-17.4 / 18.0): 'pos_version' instead of 'partner_id' when the order has one.
    content = json.loads(json.dumps(ORDER_1))
    content["order"]["pos_version"] = "18.0"
    text = RECIPE.text(record(content, 1))
    assert '"pos_version":"18.0"' in text and "partner_id" not in text


@pytest.mark.parametrize("remove, field", [
    (lambda c: c["order"].pop("date_order"), "date_order"),
    (lambda c: c.pop("payment_ids"), "payment_ids"),
    (lambda c: c["lines"][0].pop("qty"), "qty"),
    (lambda c: c["lines"][0].update(tax_ids=[[1]]), "tax_ids"),
    (lambda c: c["order"].update(date_order="15/01/2024"), "date_order"),
])
def test_a_content_without_what_odoo_hashes_names_the_missing_value(remove, field):
    content = json.loads(json.dumps(ORDER_1))
    remove(content)
    with pytest.raises(ContentError) as err:
        RECIPE.seal("", record(content, 1, HASH_1), None)
    assert str(err.value) == field
