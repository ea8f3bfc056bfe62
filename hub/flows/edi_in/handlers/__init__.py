"""The inbound message handlers the flow runs: one module per message type, registered here.

To add a message type: write ``handlers/<type>.py`` with a ``MessageHandler`` subclass
(``handles``, ``map``, ``check``, ``write``, maybe ``acknowledge``) and add one line below.
"""

from hub.flows.edi_in.handlers.acks_in import AcknowledgementHandler
from hub.flows.edi_in.handlers.ordchg import OrderChangeHandler
from hub.flows.edi_in.handlers.orders import OrdersHandler
from hub.flows.edi_in.registry import HandlerRegistry

HANDLERS = HandlerRegistry()
HANDLERS.register(OrdersHandler())
HANDLERS.register(AcknowledgementHandler())
HANDLERS.register(OrderChangeHandler())
