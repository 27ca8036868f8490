"""Orders: "where is my order?", answered from the shop's order data, only to whom it belongs.

The handlers use :func:`orders_for`, :func:`link_phone` and :func:`verify_by_last4` with the
source :func:`make_source` builds from ``[orders]``; the bot's HTTP server mounts
:func:`order_routes`; the scheduler listens with :func:`on_status_change`.
"""

from orders.events import (
    EventIdTaken,
    EventOutcome,
    OrderNotFound,
    apply_event,
    on_status_change,
    save_order,
    status_listeners,
)
from orders.feed import order_routes, sign
from orders.importer import (
    ImportFileError,
    ImportReport,
    RowProblem,
    cli_import,
    import_orders,
    load_samples,
)
from orders.models import EventKind, Order, OrderEvent, OrderGrant, OrderStatus, VerificationAttempt
from orders.phones import InvalidPhone, normalize_phone
from orders.service import Lookup, LookupResult, make_source, orders_for
from orders.sources import LocalOrderSource, OrderSource, OrderSourceUnavailable
from orders.verification import Verification, VerifyResult, link_phone, verify_by_last4
from orders.views import OrderItem, OrderView, TrackingEvent

__all__ = [
    "EventIdTaken", "EventKind", "EventOutcome", "ImportFileError", "ImportReport", "InvalidPhone",
    "LocalOrderSource", "Lookup", "LookupResult", "Order", "OrderEvent", "OrderGrant", "OrderItem",
    "OrderNotFound", "OrderSource", "OrderSourceUnavailable", "OrderStatus", "OrderView", "RowProblem",
    "TrackingEvent", "Verification", "VerificationAttempt", "VerifyResult", "apply_event", "cli_import",
    "import_orders", "link_phone", "load_samples", "make_source", "normalize_phone", "on_status_change",
    "order_routes", "orders_for", "save_order", "sign", "status_listeners", "verify_by_last4",
]
