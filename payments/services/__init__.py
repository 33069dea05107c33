"""Payment state changes: the customer, the SetupIntent, confirmation, the charge, webhooks.

Lock, re-check, change (as pretix does), but never wait on Stripe inside a web request
while holding a lock: a route or a webhook asks Stripe first, then locks the reservation,
checks that what it asked about is still what the reservation records, and records the
answer. Two callers racing (a double-clicked confirm, a webhook) both ask, and the second
to lock finds the first one's result. Creations carry idempotency keys derived from the
reservation's recorded state, so with real Stripe racing creators get one object; with
localstripe (which ignores the keys) the loser's SetupIntent is left unused and its
Customer deleted.

The end-of-stay charge runs on the workers only and keeps its row lock across the call: a
duplicated task must wait for the first one's outcome rather than charge, and what waits
on that lock from a web request gives up after its lock_timeout (a 409).

Whatever comes back from Stripe by a webhook is checked against what it claims to settle
before anything changes: the metadata's deployment tag and reservation, the customer, and
for a payment the amount, currency and recorded id. One Stripe account may serve several
deployments, and anyone can create a PaymentIntent that names someone else's reservation.

The modules: `common` (what every Stripe object made for a reservation carries, and the
checks that a Stripe object is this reservation's), `cards` (the Customer, the SetupIntent
and confirmation), `charges` (the end-of-stay charge and reconciling a PaymentIntent) and
`webhooks` (Stripe's events, each routed to one of them).
"""
