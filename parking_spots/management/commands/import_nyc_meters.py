from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from parking_spots.services import ImportSummary, parking_spot_import_nyc_meters
from secure_my_spot.exceptions import ApplicationError


class Command(BaseCommand):
    help = (
        "Import NYC Open Data's 'Parking Meters Locations and Status' CSV export: active "
        "on-street meters become spots, inactive or retired ones deactivate theirs. Each "
        "spot's rates are its zone's (the admin's Rate zones)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("csv", type=Path, help="the export, as downloaded")
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, csv: Path, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            # utf-8-sig: exports saved by spreadsheet programs start with a byte order mark;
            # undecodable bytes become U+FFFD instead of aborting mid-file.
            with csv.open(encoding="utf-8-sig", errors="replace", newline="") as csv_file:
                summary = parking_spot_import_nyc_meters(csv_file=csv_file, batch_size=batch_size)
        except OSError as exc:
            raise CommandError(f"Cannot read {csv}: {exc.strerror}") from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self._report(summary))

    def _report(self, summary: ImportSummary) -> str:
        lines = [
            f"rows read    {summary.rows}",
            f"created      {summary.created}",
            f"updated      {summary.updated}",
            f"unchanged    {summary.unchanged}",
            f"deactivated  {summary.deactivated}",
            f"skipped      {sum(summary.skipped.values())}",
        ]
        lines += [f"  {count:>6}  {reason}" for reason, count in summary.skipped.most_common()]
        return "\n".join(lines)
