from django.core.management.base import BaseCommand

from availability.publisher import AvailabilityPublisher


class Command(BaseCommand):
    help = "Publish spot availability deltas to push subscribers (run exactly one; more wait)."

    def handle(self, *args, **options) -> None:
        AvailabilityPublisher().run()
