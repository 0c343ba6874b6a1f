"""Withholding small counts of people before figures are published.

Counts of people from 1 to OPEN_DATA_SUPPRESS_BELOW - 1 are withheld (primary suppression).
Four of the published counts add up exactly: booked = attended + no_shows + not_recorded. If
only one of those four were withheld it could be worked out from the other three, so one
more is withheld with it (complementary suppression): the smallest other non-zero one,
preferring a part to the total. Two unknowns in one sum can no longer be told apart.

The slot and place counts describe what a centre offered, not people, and are never withheld.
"""

from collections.abc import Mapping

PEOPLE_COUNTS = (
    "booked",
    "attended",
    "no_shows",
    "not_recorded",
    "cancellations",
    "waitlist_refills",
    "walk_ins",
)
BOOKED_PARTS = ("attended", "no_shows", "not_recorded")
BOOKED_SUM = ("booked", *BOOKED_PARTS)


def withhold_small_counts(figures: Mapping[str, int], *, below: int) -> dict[str, int | None]:
    """The figures as published: small counts of people (and their complements) as None."""
    withheld = {name for name in PEOPLE_COUNTS if 0 < figures[name] < below}
    if len(withheld.intersection(BOOKED_SUM)) == 1:
        complements = [name for name in BOOKED_SUM if name not in withheld and figures[name] > 0]
        # Never empty: the total is at least the withheld part, and a withheld total would
        # have withheld its non-zero parts too.
        if complements:
            withheld.add(min(complements, key=lambda name: (figures[name], name == "booked")))
    return {name: None if name in withheld else value for name, value in figures.items()}
