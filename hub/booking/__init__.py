"""The book the hub keeps (docs/design.md, "The book"): slots cut from opening hours, GP sessions and
the cleaning gap (`slots`), and the bookings made in them (`book`).
"""
