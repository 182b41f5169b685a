"""Delivery: sending the built email to subscribers.  Never renders anything."""
