"""The browser side: sign-in, consent screen, school, trust and vendor pages."""
