#!/usr/bin/env python3
"""Runs localstripe (a stateful fake of the Stripe API) on loopback, as the payment provider of
the local stack and the tests.

Two adjustments to match Stripe, both small and both here rather than in the product:
- Stripe declines its test card 4000 0000 0000 0002 (`pm_card_visa_chargeDeclined`) when it is
  *charged*; localstripe declines it only when it is attached to a customer. The payment step
  charges without attaching, so the card is made to decline on charge, as on Stripe.
- localstripe listens on every interface; this listens on loopback only.

With --parent-pid the server exits when that process is gone, so a test run that dies never
leaves a server behind.
"""

import logging

from aiohttp import web
from localstripe import resources, server

from local_server import server_arguments

DECLINED_ON_CHARGE = "4000000000000002"


def declines_like_stripe() -> None:
    charging_is_declined = resources.PaymentMethod._charging_is_declined

    def declined(self):
        card = getattr(self, "_card_number", None)
        return charging_is_declined(self) or (self.type == "card" and card == DECLINED_ON_CHARGE)

    resources.PaymentMethod._charging_is_declined = declined


def main() -> None:
    args = server_arguments(__doc__, port=8420)
    declines_like_stripe()
    access_log = None if args.quiet else logging.getLogger("aiohttp.access")
    if access_log:
        logging.basicConfig(level=logging.INFO)
    web.run_app(server.app, host=args.host, port=args.port, access_log=access_log, print=None)


if __name__ == "__main__":
    main()
