from django.core.management.base import BaseCommand, CommandError, CommandParser

from parking_spots.selectors import zone_spot_counts
from parking_spots.services import parking_spot_assign_zones


class Command(BaseCommand):
    help = (
        "Give every spot whose zone no operator pinned its rate zone by the documented rule "
        "(parking_spots/zones.py); safe to repeat. Prints how many spots each zone holds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        changed = parking_spot_assign_zones(batch_size=batch_size)
        lines = [f"changed      {changed}"]
        for code, count in zone_spot_counts().items():
            if code is not None or count:
                lines.append(f"  {count:>6}  {code or '(not zoned)'}")
        self.stdout.write("\n".join(lines))
