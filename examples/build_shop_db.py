"""Build the demo analytics database of "Harbor & Pine", a fictional online shop.

Harbor & Pine sells home goods, kitchenware, outdoor gear and small electronics from the EU and
the UK to customers in Europe and North America. The data is generated from a fixed seed and a
reference date that plays "today": the first day of the current UTC month, so "last month" is
always a whole month of data. `--today YYYY-MM-DD` pins it (the first day of that month): the
same date gives exactly the same rows, byte for byte.

    python examples/build_shop_db.py data/shop.db [--force | --refresh] [--today 2026-11-01]
    python examples/build_shop_db.py --postgres postgresql://postgres@127.0.0.1/test --schema shop

`--refresh` rebuilds the file only when it is missing or was built for another month (the
reference date is kept in `PRAGMA user_version` as YYYYMMDD); `make run` uses it.

The SQLite path needs only the standard library; `--postgres` (and `load_postgres`) need asyncpg.
Tables are described in examples/shop-schema.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import sys
import tempfile
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

SEED = 20261101
HISTORY_DAYS = 548  # about 18 months of orders before the reference date
RETURN_WINDOW = timedelta(days=30)
CUSTOMERS = 500
ORDERS = 3000
RETURN_RATE = 0.08

# fmt: off
# country -> (weight, currency, delivery days min, max)
COUNTRIES: dict[str, tuple[int, str, int, int]] = {
    "DE": (22, "EUR", 2, 5), "FR": (14, "EUR", 2, 6), "NL": (9, "EUR", 1, 4),
    "BE": (4, "EUR", 2, 5), "AT": (4, "EUR", 2, 6), "IE": (3, "EUR", 3, 7),
    "ES": (6, "EUR", 3, 7), "IT": (6, "EUR", 3, 8), "SE": (4, "EUR", 3, 7),
    "DK": (3, "EUR", 2, 6), "GB": (13, "GBP", 2, 5), "US": (9, "USD", 5, 12),
    "CA": (3, "USD", 6, 14),
}
FX_FROM_EUR = {"EUR": 1.0, "GBP": 0.86, "USD": 1.08}
SHIPPING_EUR_CENTS = {"EUR": 495, "GBP": 595, "USD": 1495}
FREE_SHIPPING_FROM_EUR_CENTS = 7500

PRODUCTS: dict[str, list[tuple[str, int]]] = {  # category -> (name, price in EUR cents)
    "home": [
        ("Linen Throw Blanket", 6900), ("Wool Cushion Cover", 2900), ("Oak Serving Board", 3900),
        ("Stoneware Vase", 3400), ("Cotton Bath Towel Set", 4900), ("Beeswax Candle Trio", 1900),
        ("Rattan Storage Basket", 3200), ("Jute Door Mat", 2400), ("Ceramic Planter", 2700),
        ("Wall Clock Pine", 5400), ("Woven Table Runner", 2200), ("Glass Carafe", 2100),
        ("Linen Napkins (4)", 2600), ("Picture Frame Oak A4", 1800), ("Aroma Diffuser", 3600),
    ],
    "kitchen": [
        ("Cast Iron Skillet 26 cm", 4900), ("Enamel Dutch Oven 4 L", 11900),
        ("Chef's Knife 20 cm", 8900), ("Walnut Cutting Board", 5900),
        ("Pour-Over Coffee Set", 3900),
        ("Stoneware Mug (2)", 2400), ("Spice Jar Set", 2900), ("Silicone Spatula Set", 1500),
        ("Stainless Mixing Bowls", 3400), ("French Press 1 L", 3200), ("Salad Bowl Acacia", 3600),
        ("Pasta Pot 6 L", 5400), ("Teapot Cast Iron", 4400), ("Baking Tray Set", 2900),
        ("Knife Sharpener", 2200),
    ],
    "outdoor": [
        ("Camping Mug Enamel", 1400), ("Folding Camp Chair", 5900),
        ("Insulated Bottle 750 ml", 2900),
        ("Picnic Blanket Waterproof", 4400), ("Headlamp 300 lm", 3400),
        ("Trail Backpack 28 L", 8900),
        ("Camping Stove Compact", 4900), ("Hammock Lightweight", 3900), ("Cooler Bag 20 L", 3900),
        ("Trekking Poles Pair", 6900), ("Solar Lantern", 2900), ("Rain Poncho", 1900),
        ("Sleeping Bag 3-Season", 9900), ("Dry Bag 10 L", 1900), ("Multi-Tool Pocket", 4400),
    ],
    "electronics": [
        ("Electric Kettle 1.7 L", 5900), ("Gooseneck Kettle", 8900), ("Table Lamp Pine", 6900),
        ("Reading Lamp LED", 4400), ("Bluetooth Speaker Mini", 4900),
        ("Bluetooth Speaker Go", 8900),
        ("Bedside Alarm Clock", 3400), ("Milk Frother", 2900), ("Toaster 2-Slice", 5400),
        ("Hand Blender", 4900), ("Desk Fan Quiet", 5900), ("Smart Plug (2)", 2900),
        ("USB-C Charger 65 W", 3900), ("Coffee Grinder Burr", 9900), ("String Lights 10 m", 2400),
    ],
}
SKU_PREFIX = {"home": "HOM", "kitchen": "KIT", "outdoor": "OUT", "electronics": "ELE"}
FIRST_NAMES = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Katrin",
    "Lukas", "Marie", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera",
    "William", "Yara", "Zoe", "Lars", "Sofia", "Mateo", "Aoife", "Liam", "Chloe", "Pierre",
]
LAST_NAMES = [
    "Müller", "Schmidt", "Dubois", "Martin", "de Vries", "Jansen", "Murphy", "García", "Rossi",
    "Andersson", "Nielsen", "Smith", "Jones", "Taylor", "Brown", "Miller", "Wilson", "Tremblay",
    "Peeters", "Huber", "Bianchi", "Lindqvist", "O'Brien", "Moreau", "Bauer", "Walsh",
]
RETURN_REASONS = [
    ("damaged_in_transit", 20), ("defective", 18), ("not_as_described", 14),
    ("wrong_item", 8), ("changed_mind", 30), ("arrived_late", 10),
]
# fmt: on

DDL = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, full_name TEXT NOT NULL,
    country TEXT NOT NULL, signup_date {date} NOT NULL, marketing_opt_in {bool} NOT NULL);
CREATE TABLE products (
    id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, name TEXT NOT NULL, category TEXT NOT NULL,
    price_cents INTEGER NOT NULL, currency TEXT NOT NULL, active {bool} NOT NULL);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id),
    status TEXT NOT NULL, currency TEXT NOT NULL, placed_at {ts} NOT NULL, shipped_at {ts},
    delivered_at {ts}, items_cents INTEGER NOT NULL, shipping_cents INTEGER NOT NULL,
    total_cents INTEGER NOT NULL);
CREATE TABLE order_items (
    id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders (id),
    product_id INTEGER NOT NULL REFERENCES products (id), quantity INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL);
CREATE TABLE returns (
    id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders (id),
    reason TEXT NOT NULL, status TEXT NOT NULL, requested_at {ts} NOT NULL, resolved_at {ts},
    refunded_cents INTEGER NOT NULL);
CREATE INDEX ix_orders_customer_id ON orders (customer_id);
CREATE INDEX ix_orders_placed_at ON orders (placed_at);
CREATE INDEX ix_order_items_order_id ON order_items (order_id);
CREATE INDEX ix_returns_order_id ON returns (order_id);
"""
SQLITE_TYPES = {"ts": "TEXT", "date": "TEXT", "bool": "INTEGER"}
POSTGRES_TYPES = {"ts": "TIMESTAMPTZ", "date": "DATE", "bool": "BOOLEAN"}
TABLES = ("customers", "products", "orders", "order_items", "returns")

Row = tuple[Any, ...]


@dataclass
class ShopData:
    """Every table's rows, in insertion order, as Python values (aware UTC datetimes)."""

    reference: datetime  # "today" for the data set: nothing happens on or after it
    tables: dict[str, list[Row]] = field(default_factory=lambda: {name: [] for name in TABLES})

    def summary(self) -> str:
        counts = ", ".join(f"{len(rows)} {name}" for name, rows in self.tables.items())
        return f"Harbor & Pine: {counts} (reference date {self.reference.date().isoformat()})"


def reference_date(today: date | None = None) -> date:
    """The data set's "today": the first day of `today`'s month (default: this UTC month)."""
    return (today or datetime.now(UTC).date()).replace(day=1)


def _customers(rng: random.Random, reference: datetime) -> list[Row]:
    countries = list(COUNTRIES)
    weights = [COUNTRIES[c][0] for c in countries]
    first_signup = reference.date() - timedelta(days=3 * 365)
    rows: list[Row] = []
    for customer_id in range(1, CUSTOMERS + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        slug = f"{first}.{last}".lower().replace(" ", "").replace("'", "").replace("ü", "ue")
        email = f"{slug}{customer_id}@example.com"
        signup = first_signup + timedelta(days=rng.randrange(3 * 365 - 5))
        country = rng.choices(countries, weights)[0]
        rows.append((customer_id, email, f"{first} {last}", country, signup, rng.random() < 0.4))
    return sorted(rows, key=lambda row: (row[4], row[0]))


def _products() -> list[Row]:
    rows: list[Row] = []
    for category, items in PRODUCTS.items():
        for number, (name, price) in enumerate(items, start=1):
            sku = f"HP-{SKU_PREFIX[category]}-{number:03d}"
            rows.append((len(rows) + 1, sku, name, category, price, "EUR", number != 13))
    return rows


def _order_times(rng: random.Random, reference: datetime) -> list[datetime]:
    start = reference - timedelta(days=HISTORY_DAYS)
    times: list[datetime] = []
    while len(times) < ORDERS:
        offset = rng.random() * HISTORY_DAYS
        # More orders as the shop grows, and a pre-Christmas peak.
        moment = start + timedelta(days=offset)
        keep = 0.55 + 0.45 * offset / HISTORY_DAYS + (0.4 if moment.month in (11, 12) else 0)
        if rng.random() < keep / 1.4:
            times.append(moment.replace(microsecond=0))
    return sorted(times)


def _status(
    rng: random.Random, placed: datetime, country: str, reference: datetime
) -> tuple[str, Row]:
    """Order status and (shipped_at, delivered_at), consistent with the reference date."""
    if rng.random() < 0.03:
        return "cancelled", (None, None)
    _, _, fastest, slowest = COUNTRIES[country]
    shipped = placed + timedelta(hours=rng.randint(6, 48))
    delivered = shipped + timedelta(days=rng.randint(fastest, slowest), hours=rng.randint(0, 9))
    if shipped >= reference:
        return "paid", (None, None)
    if delivered >= reference:
        return "shipped", (shipped, None)
    return "delivered", (shipped, delivered)


def _convert(eur_cents: int, currency: str) -> int:
    """Price in the order's currency, rounded to a .90 ending like a price list would be."""
    cents = round(eur_cents * FX_FROM_EUR[currency] / 100) * 100 - 10
    return max(cents, 90)


def _return(
    rng: random.Random, order: Row, items: list[Row], return_id: int, reference: datetime
) -> Row | None:
    delivered: datetime = order[6]
    latest = min(delivered + RETURN_WINDOW, reference)
    span = (latest - delivered).total_seconds()
    if span <= 3600:
        return None
    requested = delivered + timedelta(seconds=rng.randrange(int(span)))
    reasons, weights = zip(*RETURN_REASONS, strict=True)
    reason = rng.choices(reasons, weights)[0]
    if reference - requested < timedelta(days=5):
        return (return_id, order[0], reason, "requested", requested, None, 0)
    resolved = requested + timedelta(days=rng.randint(2, 5), hours=rng.randint(0, 12))
    resolved = min(resolved, reference - timedelta(hours=1))
    if reason == "changed_mind" and rng.random() < 0.35:
        return (return_id, order[0], reason, "rejected", requested, resolved, 0)
    item = rng.choice(items)
    refund = order[9] if rng.random() < 0.6 else item[3] * item[4]
    return (return_id, order[0], reason, "refunded", requested, resolved, refund)


def generate(today: date | None = None) -> ShopData:
    """Generate the whole data set for `reference_date(today)`: the same date, the same rows."""
    rng = random.Random(SEED)
    reference = datetime.combine(reference_date(today), time(), tzinfo=UTC)
    data = ShopData(reference)
    customers = _customers(rng, reference)
    products = _products()
    data.tables["customers"], data.tables["products"] = customers, products
    signups = [row[4] for row in customers]
    for order_id, placed in enumerate(_order_times(rng, reference), start=1):
        known = bisect_right(signups, placed.date()) or 1
        # Returning customers: earlier sign-ups are more likely to order again.
        customer = customers[int(known * rng.random() ** 1.3)]
        currency = COUNTRIES[customer[3]][1]
        status, (shipped, delivered) = _status(rng, placed, customer[3], reference)
        items: list[Row] = []
        lines = rng.choice((1, 1, 1, 2, 2, 3, 4))
        for product in rng.sample([p for p in products if p[6]], k=lines):
            item_id = len(data.tables["order_items"]) + len(items) + 1
            price = _convert(product[4], currency)
            items.append((item_id, order_id, product[0], rng.choice((1, 1, 1, 1, 2, 3)), price))
        items_cents = sum(item[3] * item[4] for item in items)
        eur_value = items_cents / FX_FROM_EUR[currency]
        shipping = 0 if eur_value >= FREE_SHIPPING_FROM_EUR_CENTS else SHIPPING_EUR_CENTS[currency]
        order = (
            order_id,
            customer[0],
            status,
            currency,
            placed,
            shipped,
            delivered,
            items_cents,
            shipping,
            items_cents + shipping,
        )
        data.tables["orders"].append(order)
        data.tables["order_items"].extend(items)
        if status == "delivered" and rng.random() < RETURN_RATE:
            returned = _return(rng, order, items, len(data.tables["returns"]) + 1, reference)
            if returned is not None:
                data.tables["returns"].append(returned)
    data.tables["customers"] = sorted(customers)
    return data


def _sqlite_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def write_sqlite(connection: sqlite3.Connection, data: ShopData) -> None:
    """Create the schema and insert every row into an open SQLite connection."""
    connection.executescript(DDL.format_map(SQLITE_TYPES))
    for table, rows in data.tables.items():
        marks = ", ".join("?" * len(rows[0]))
        connection.executemany(
            f"INSERT INTO {table} VALUES ({marks})",
            ([_sqlite_value(value) for value in row] for row in rows),
        )
    # Invisible to the agent's tools, unlike a table: what `--refresh` compares.
    connection.execute(f"PRAGMA user_version = {data.reference:%Y%m%d}")
    connection.commit()


def built_for(path: Path) -> date | None:
    """The reference date a database file was built for, or None (missing, or not ours)."""
    if not path.is_file():
        return None
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
        finally:
            connection.close()
        return datetime.strptime(str(version), "%Y%m%d").date()
    except (sqlite3.Error, ValueError):
        return None


def build_sqlite(out: Path, *, force: bool = False, today: date | None = None) -> ShopData:
    """Write the database for `reference_date(today)` to `out` atomically (temporary file,
    then rename)."""
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    data = generate(today)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(handle)
    try:
        connection = sqlite3.connect(temporary)
        try:
            write_sqlite(connection, data)
        finally:
            connection.close()
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return data


async def load_postgres(
    dsn: str, schema: str, *, replace: bool = False, today: date | None = None
) -> ShopData:
    """Create `schema` in PostgreSQL and load the same tables and rows into it (needs asyncpg)."""
    import asyncpg  # imported here: the SQLite path needs only the standard library

    data = generate(today)
    connection = await asyncpg.connect(dsn.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with connection.transaction():
            if replace:
                await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await connection.execute(f'CREATE SCHEMA "{schema}"')
            await connection.execute(
                f'COMMENT ON SCHEMA "{schema}" IS'
                f" 'Harbor & Pine, reference date {data.reference:%Y-%m-%d}'"
            )
            await connection.execute(f'SET LOCAL search_path = "{schema}"')
            await connection.execute(DDL.format_map(POSTGRES_TYPES))
            for table, rows in data.tables.items():
                await connection.copy_records_to_table(table, records=rows, schema_name=schema)
    finally:
        await connection.close()
    return data


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, not {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, help="SQLite file to write")
    replace = parser.add_mutually_exclusive_group()
    replace.add_argument("--force", action="store_true", help="replace an existing file/schema")
    replace.add_argument(
        "--refresh",
        action="store_true",
        help="SQLite: rebuild only a missing file or one built for another month",
    )
    parser.add_argument(
        "--today",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="build as of this day: the reference date is the first of its month "
        "(default: today, UTC)",
    )
    parser.add_argument("--postgres", metavar="URL", help="load into PostgreSQL instead")
    parser.add_argument("--schema", default="harbor_pine", help="PostgreSQL schema to create")
    args = parser.parse_args(argv)
    if (args.out is None) == (args.postgres is None):
        parser.error("give either OUT_PATH or --postgres URL")
    if args.refresh and args.postgres:
        parser.error("--refresh is for a SQLite file")
    wanted = reference_date(args.today)
    if args.refresh and built_for(args.out) == wanted:
        print(f"{args.out} is up to date (reference date {wanted.isoformat()})")  # noqa: T201
        return 0
    try:
        if args.postgres:
            data = asyncio.run(
                load_postgres(args.postgres, args.schema, replace=args.force, today=args.today)
            )
            target = f"schema {args.schema}"
        else:
            data = build_sqlite(args.out, force=args.force or args.refresh, today=args.today)
            target = str(args.out)
    except FileExistsError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"{data.summary()} -> {target}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
