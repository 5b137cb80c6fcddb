"""OAuth 2 protocol wiring: Authlib does the protocol, these modules bind it to our domain."""
