"""The product's rules: how long a reservation may last and hold its spot, the smallest bill,
holds per client, reminders. Rates are data, not settings: the admin's Rate zones."""

from secure_my_spot.settings.core import env

# Longest reservation (a spot's own meter limit can lower it), in minutes.
RESERVATION_MAX_MINUTES = env.int("RESERVATION_MAX_MINUTES", default=24 * 60)
# How long a new reservation holds its spot while the client enters card details.
RESERVATION_HOLD_MINUTES = env.int("RESERVATION_HOLD_MINUTES", default=10)
# Smallest non-zero bill (Stripe's USD minimum is 50 cents).
RESERVATION_MINIMUM_CHARGE_CENTS = env.int("RESERVATION_MINIMUM_CHARGE_CENTS", default=50)
# How long the signed "manage this reservation" link of a guest's e-mails works, in days.
RESERVATION_LINK_MAX_AGE_DAYS = env.float("RESERVATION_LINK_MAX_AGE_DAYS", default=30)
# Minutes before the end to remind the driver; 0 turns reminders off.
RESERVATION_REMINDER_MINUTES = env.int("RESERVATION_REMINDER_MINUTES", default=10)
# Booking ahead: how far ahead a reservation may start (days); how long before its start an
# active (paid-for) reservation can still be cancelled free of charge (minutes, 0: until it
# starts); how long before its start the "starts soon" e-mail goes out (minutes, 0: none;
# only for reservations booked further ahead than that); and how many not yet started
# reservations one account, one guest e-mail and one client address may hold at once.
RESERVATION_MAX_DAYS_AHEAD = env.int("RESERVATION_MAX_DAYS_AHEAD", default=30)
RESERVATION_FREE_CANCEL_BEFORE_START_MINUTES = env.int(
    "RESERVATION_FREE_CANCEL_BEFORE_START_MINUTES", default=0
)
RESERVATION_START_REMINDER_MINUTES = env.int("RESERVATION_START_REMINDER_MINUTES", default=30)
RESERVATIONS_AHEAD_MAX = env.int("RESERVATIONS_AHEAD_MAX", default=5)
# Unpaid holds (pending_payment, hold not run out) at once per account, per guest e-mail and
# per client address: one client cannot empty the map with free holds.
HOLDS_MAX_PER_ACCOUNT = env.int("HOLDS_MAX_PER_ACCOUNT", default=2)
HOLDS_MAX_PER_EMAIL = env.int("HOLDS_MAX_PER_EMAIL", default=2)
HOLDS_MAX_PER_ADDRESS = env.int("HOLDS_MAX_PER_ADDRESS", default=2)
