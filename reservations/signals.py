"""What the reservations' services announce after commit, for the layer that runs the work.

Services never import the Celery tasks (tasks/ sits above every app): they send one of these
once their change has committed, and tasks/apps.py connects each to the task that does the
work. Nothing depends on the signal arriving: the workers' sweep finds the same work.
"""

from django.dispatch import Signal

# Sent with `reservation_id`: a reservation was ended early; its charge and e-mail are due.
reservation_ended = Signal()
