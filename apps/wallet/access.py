"""Who may mint and manage codes: the instance's operators (staff)."""

from apps.accounts.models import User
from apps.core.errors import NotFound, PermissionDenied
from apps.wallet.models import Code, CodeBatch, Invoice


def access_operator(*, user: User) -> None:
    """Operators' tools (codes, plan grants, invoiced organisations): staff only."""
    if not user.is_staff:
        raise PermissionDenied("Only the instance's operators (staff) may do this.")


def access_code_batch_by_id(*, user: User, batch_id: int, kind: str) -> CodeBatch:
    access_operator(user=user)
    batch = CodeBatch.objects.filter(pk=batch_id, kind=kind).first()
    if batch is None:
        raise NotFound("Code batch not found.")
    return batch


def access_code_by_id(*, user: User, code_id: int, kind: str) -> Code:
    access_operator(user=user)
    code = Code.objects.select_related("batch").filter(pk=code_id, batch__kind=kind).first()
    if code is None:
        raise NotFound("Code not found.")
    return code


def access_invoice_by_id(*, user: User, invoice_id: int) -> Invoice:
    access_operator(user=user)
    invoice = Invoice.objects.select_related("organization").filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound("Invoice not found.")
    return invoice
