"""Inbound EDI by message type: one interchange loop, handlers registered per (type, version).

``loop`` runs the mailbox and interchange steps every message type shares (archive, parse,
register, duplicates, CONTRL, dead letters, APERAK); ``handlers`` holds one module per
message type (map, check, write, acknowledge) and the one registry they are added to.
"""

FLOW = "edi_orders_inbound"
