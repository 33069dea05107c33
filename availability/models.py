from django.db import models


class AvailabilityState(models.Model):
    """The one row whose `version` names the current answer of the spot routes.

    PostgreSQL triggers (migration 0001) keep it: any statement that writes spots bumps
    `version` (at the statement), and any write that changes when a reservation holds its
    spot bumps it at commit; `next_change_at` is
    the next moment a hold or reservation starts or runs out by time alone, and the first
    reader after that moment bumps `version` once (`availability.services`). The spot routes
    thus learn "has anything changed" from one primary-key read, never a query over spots.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField()
    changed_at = models.DateTimeField()
    next_change_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="availability_one_row")
        ]

    def __str__(self) -> str:
        return f"Availability version {self.version}"
