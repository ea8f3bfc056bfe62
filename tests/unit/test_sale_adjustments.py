"""A changed sale's order-level allowances and charges split again over its goods' VAT rates
(issue 14 item 2): each allowance's total kept to the cent, or the change's restated ones."""

from __future__ import annotations

from decimal import Decimal

from schemas.model import AllowanceCharge
from transforms.edifact_orders_allowances import Adjustment
from transforms.sale_adjustments import SaleAdjustment, goods_bases, plan, resplit

D = Decimal
SEVEN, STD = D(7), D(19)


def _line(seq: int, code: str, price: str, text: str = "Allowance: TD", qty: int = 1
          ) -> SaleAdjustment:  # fmt: skip
    return SaleAdjustment(seq, code, D(qty), D(price), text, ref=str(100 + seq))


FC = "Charge: FC"
SPLIT = [_line(3, "ALLOWANCE", "-3.00"), _line(4, "ALLOWANCE-7", "-2.00"),
         _line(5, "CHARGE", "1.20", FC), _line(6, "CHARGE-7", "0.80", FC)]  # fmt: skip


def test_goods_bases_round_each_line_to_the_cent() -> None:
    assert goods_bases([(STD, D(3), D("0.3333")), (STD, D(1), D(2)), (SEVEN, D(2), D("1.005"))]
                       ) == {STD: D("3.00"), SEVEN: D("2.01")}  # fmt: skip


def test_the_only_7_percent_line_deleted_moves_its_shares_to_19() -> None:
    target, error = resplit({STD: D(60), SEVEN: D(0)}, 2, SPLIT)
    assert error is None
    assert target == [Adjustment(3, "ALLOWANCE", D("-5.00"), "Allowance: TD"),
                      Adjustment(4, "CHARGE", D("2.00"), "Charge: FC")]  # fmt: skip
    steps = plan(SPLIT, target)
    assert [(a.ref, w.product_code, w.unit_price) for a, w in steps.write] == [
        ("103", "ALLOWANCE", D("-5.00")), ("105", "CHARGE", D("2.00"))]  # fmt: skip
    assert [a.ref for a in steps.empty] == ["104", "106"] and not steps.create


def test_a_7_percent_line_added_takes_its_share_and_the_totals_stay_exact() -> None:
    before = [_line(2, "ALLOWANCE", "-10.00")]
    target, error = resplit({STD: D("66.67"), SEVEN: D("33.33")}, 3, before)
    assert error is None
    assert [(a.sequence, a.product_code, a.unit_price) for a in target] == [
        (4, "ALLOWANCE", D("-6.67")), (5, "ALLOWANCE-7", D("-3.33"))]  # fmt: skip
    assert sum(a.unit_price for a in target) == D("-10.00")
    steps = plan(before, target)
    assert [(a.ref, w.sequence) for a, w in steps.write] == [("102", 4)]  # renumbered
    assert [a.product_code for a in steps.create] == ["ALLOWANCE-7"] and not steps.empty


def test_an_unchanged_split_plans_nothing() -> None:
    target, _ = resplit({STD: D(60), SEVEN: D(40)}, 2, SPLIT)
    assert target == [Adjustment(a.sequence, a.product_code, a.unit_price, a.description)
                      for a in SPLIT]  # fmt: skip
    assert not plan(SPLIT, target)


def test_a_processed_sale_reuses_its_lines_for_another_rate() -> None:
    """Tryton adds no line to a processed sale: the 19% line becomes the 7% one."""
    before = [_line(2, "ALLOWANCE", "-4.00")]
    target, _ = resplit({SEVEN: D(50)}, 1, before)
    steps = plan(before, target)
    assert [(a.ref, w.product_code, w.unit_price) for a, w in steps.write] == [
        ("102", "ALLOWANCE-7", D("-4.00"))]  # fmt: skip
    assert not steps.create and not steps.empty


def test_a_restated_allowance_replaces_the_sale_s_and_zero_removes_it() -> None:
    restated = (AllowanceCharge(amount=D("8.00"), reason_code="TD"),)
    target, _ = resplit({STD: D(60), SEVEN: D(40)}, 2, SPLIT, restated)
    assert [(a.product_code, a.unit_price) for a in target] == [
        ("ALLOWANCE", D("-4.80")), ("ALLOWANCE-7", D("-3.20"))]  # fmt: skip
    steps = plan(SPLIT, target)
    assert [a.ref for a in steps.empty] == ["105", "106"]  # the charge is not restated
    none, _ = resplit({STD: D(60)}, 2, SPLIT, (AllowanceCharge(amount=D(0)),))
    assert none == [] and len(plan(SPLIT, none).empty) == 4


def test_an_emptied_line_counts_nothing_and_is_not_emptied_again() -> None:
    before = [_line(3, "ALLOWANCE", "-5.00"), _line(4, "ALLOWANCE-7", "-2.00", qty=0)]
    target, _ = resplit({STD: D(60)}, 2, before)
    assert [a.unit_price for a in target] == [D("-5.00")]
    assert not plan(before, target)


def test_allowances_larger_than_the_goods_left_are_refused() -> None:
    target, error = resplit({STD: D("4.00")}, 1, [_line(2, "ALLOWANCE", "-5.00")])
    assert target == [] and error is not None and "negative" in error
