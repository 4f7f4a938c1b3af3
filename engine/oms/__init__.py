"""Order management: requests in, risk, journal, venue, and orders/positions/account out."""
