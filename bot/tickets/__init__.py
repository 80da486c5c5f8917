"""Customers and their tickets: who wrote (identities, claims and their proof), a ticket's
lifecycle, what a reply says, and what a customer may see of a ticket."""
