"""Reconciliation: the ledger's cost per provider and day against a provider's invoice CSV.

The ledger side comes from the roll-ups (the same numbers as the Billing page and the exports); the
invoice side is what the operator uploads. A day whose totals differ by more than DRIFT_LIMIT of the
invoice (or that only one side has) is flagged. Each ledger row keeps the provider's own request id,
for finding the requests behind a flagged day (an export of every request).
"""

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from apps.core.dates import day_in_range
from apps.core.errors import HyditeError
from apps.core.money import usd_to_micros
from apps.spend.models import RollupPeriod
from apps.spend.reports import ReportQuery, report_rows

DRIFT_LIMIT = Decimal("0.05")
MAX_INVOICE_BYTES = 5 * 1024 * 1024
MAX_INVOICE_DAYS = 3 * 366
DATE_COLUMNS = ("date", "day", "usage_date", "start_date", "start_time")
AMOUNT_COLUMNS = ("amount_usd", "cost_usd", "amount", "cost", "usd", "total")


class InvoiceUnreadable(HyditeError):
    code = "invoice_unreadable"


@dataclass(frozen=True)
class ReconciledDay:
    day: dt.date
    ledger_micros: int
    invoice_micros: int

    @property
    def difference_micros(self) -> int:
        return self.ledger_micros - self.invoice_micros

    @property
    def drift(self) -> Decimal | None:
        """|ledger - invoice| / invoice; None when the invoice says 0 (any ledger cost then drifts)."""
        if self.invoice_micros == 0:
            return None if self.ledger_micros else Decimal(0)
        return abs(Decimal(self.difference_micros)) / abs(Decimal(self.invoice_micros))  # a credit note too

    @property
    def flagged(self) -> bool:
        drift = self.drift
        return drift is None or drift > DRIFT_LIMIT

    @property
    def drift_percent(self) -> str:
        drift = self.drift
        return "—" if drift is None else f"{drift * 100:.2f}"


def _column(header: list[str], names: tuple[str, ...], what: str) -> int:
    lowered = [name.strip().lower() for name in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    raise InvoiceUnreadable(f"The CSV has no {what} column (one of: {', '.join(names)}).", param="invoice")


def provider_invoice_days(content: bytes) -> dict[dt.date, int]:
    """The invoice CSV's amounts summed per UTC day (several lines a day add up: per model, per project)."""
    if len(content) > MAX_INVOICE_BYTES:
        raise InvoiceUnreadable("The invoice CSV is larger than 5 MB.", param="invoice")
    try:
        rows = csv.reader(io.StringIO(content.decode("utf-8-sig")))  # row by row: memory stays small
        header = next(rows, None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvoiceUnreadable(f"The invoice is not a UTF-8 CSV file ({exc}).", param="invoice") from exc
    if not header:
        raise InvoiceUnreadable("The invoice CSV is empty.", param="invoice")
    date_at = _column(header, DATE_COLUMNS, "date")
    amount_at = _column(header, AMOUNT_COLUMNS, "amount")
    days: dict[dt.date, int] = {}
    try:
        for number, row in enumerate(rows, start=2):
            _invoice_line(days, number, row, date_at, amount_at)
    except csv.Error as exc:
        raise InvoiceUnreadable(f"The invoice is not a readable CSV file ({exc}).", param="invoice") from exc
    if not days:
        raise InvoiceUnreadable("The invoice CSV has no lines.", param="invoice")
    if (max(days) - min(days)).days >= MAX_INVOICE_DAYS:
        raise InvoiceUnreadable(f"An invoice covers at most {MAX_INVOICE_DAYS} days.", param="invoice")
    return days


def _invoice_line(days: dict[dt.date, int], number: int, row: list[str], date_at: int, amount_at: int) -> None:
    """Add one CSV line's amount to its day (a blank line adds nothing)."""
    if not any(cell.strip() for cell in row):
        return
    try:
        day = dt.date.fromisoformat(row[date_at].strip()[:10])
        amount = Decimal(row[amount_at].strip().lstrip("$").replace(",", ""))
    except (IndexError, ValueError, InvalidOperation) as exc:
        raise InvoiceUnreadable(
            f"Line {number}: a date (YYYY-MM-DD) and an amount in USD are expected.", param="invoice"
        ) from exc
    if not day_in_range(day):
        raise InvoiceUnreadable(f"Line {number}: the date is out of range.", param="invoice")
    if not amount.is_finite() or abs(amount) > Decimal(10**9):
        raise InvoiceUnreadable(f"Line {number}: the amount is out of range.", param="invoice")
    days[day] = days.get(day, 0) + (usd_to_micros(amount) or 0)


def reconciliation_days(*, provider: str, invoice: dict[dt.date, int]) -> list[ReconciledDay]:
    """Per day of the invoice's range, the instance's ledger cost for `provider` against the invoice."""
    start, end = min(invoice), max(invoice)
    query = ReportQuery(start=start, end=end, bucket=RollupPeriod.DAY, filters={"provider": provider})
    ledger = {row["bucket"].date(): row["cost_micros"] for row in report_rows(query)}
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    return [ReconciledDay(day, ledger.get(day, 0), invoice.get(day, 0)) for day in days]


def summed_days(days: list[ReconciledDay]) -> ReconciledDay:
    """The whole range as one line (its day: the first)."""
    return ReconciledDay(days[0].day, sum(d.ledger_micros for d in days), sum(d.invoice_micros for d in days))
