"""Words: customer-facing texts in the customer's language, and telling which language a
message is in."""
