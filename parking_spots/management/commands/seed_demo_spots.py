from django.core.management.base import BaseCommand, CommandParser

from parking_spots.services import parking_spot_seed_demo


class Command(BaseCommand):
    help = "Create a synthetic demo inventory around Manhattan, only if there are no spots yet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=500)

    def handle(self, *args, count: int, **options) -> None:
        created = parking_spot_seed_demo(count=count)
        if created:
            self.stdout.write(f"Created {created} demo parking spots around Manhattan.")
        else:
            self.stdout.write("Parking spots exist already; no demo spots added.")
