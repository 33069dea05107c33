import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from parking_spots.nyc_meters import rate_table
from parking_spots.services import ImportSummary, parking_spot_import_nyc_meters
from secure_my_spot.exceptions import ApplicationError


class Command(BaseCommand):
    help = (
        "Import NYC Open Data's 'Parking Meters Locations and Status' CSV export: active "
        "on-street meters become spots, inactive or retired ones deactivate theirs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("csv", type=Path, help="the export, as downloaded")
        parser.add_argument(
            "--rates",
            type=Path,
            help='JSON object of hourly rates by borough, e.g. {"Manhattan": "5.00", '
            '"default": "2.50"}; applied over the built-in table and PARKING_SPOT_RATES',
        )
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, csv: Path, rates: Path | None, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            overrides = [settings.PARKING_SPOT_RATES]
            if rates is not None:
                overrides.append(json.loads(rates.read_text(encoding="utf-8")))
            if not all(isinstance(override, dict) for override in overrides):
                raise ValueError("rates must be a JSON object of borough to rate")
            table = rate_table(*overrides)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Rate table: {exc}") from exc
        try:
            # utf-8-sig: exports saved by spreadsheet programs start with a byte order mark;
            # undecodable bytes become U+FFFD instead of aborting mid-file.
            with csv.open(encoding="utf-8-sig", errors="replace", newline="") as csv_file:
                summary = parking_spot_import_nyc_meters(
                    csv_file=csv_file, rates=table, batch_size=batch_size
                )
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
