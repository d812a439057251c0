"""Regenerate the data files of the shipped experiments.

    python experiments/data/generate.py

Pure standard library and fully deterministic: one random.Random(SEED) drives every
choice, in a fixed order, so running the script twice writes byte-identical files.

  date_pool.jsonl / date_tests.jsonl          free-form dates -> YYYY-MM-DD   (80 / 40)
  sentiment_pool.csv / sentiment_tests.jsonl  product reviews -> label        (60 / 36)
  people_pool.yaml / people_tests.jsonl       one sentence -> compact JSON    (60 / 30)

Exactly DATE_OVERLAP date test inputs are copied verbatim from the pool, so that the
harness's leakage guard has something to exclude and report. The other two tasks have
no overlap between pool and tests.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import json
import random
from pathlib import Path

SEED = 20261126
HERE = Path(__file__).resolve().parent
DATE_OVERLAP = 3

# --------------------------------------------------------------------------- dates

MONTHS = list(calendar.month_name)[1:]
ABBREVS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sept", "Oct", "Nov", "Dec"]


def ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def fmt_date(d: dt.date, family: str, rng: random.Random) -> str:
    """Write `d` in one of the shapes of `family`; every shape is unambiguous."""
    y, m, day, month = d.year, d.month, d.day, MONTHS[d.month - 1]
    shapes = {
        "month-name": [f"{month} {day}, {y}", f"{month} {day} {y}"],
        "day-month-name": [f"{day} {month} {y}", f"{day} {month}, {y}"],
        "abbrev": [
            f"{ABBREVS[m - 1]} {day}, {y}",
            f"{day} {ABBREVS[m - 1]} {y}",
            f"{ABBREVS[m - 1]}. {day} {y}",
        ],
        "ordinal": [
            f"the {ordinal(day)} of {month} {y}",
            f"{month} {ordinal(day)}, {y}",
            f"{ordinal(day)} {month} {y}",
        ],
        "numeric-us": [f"{m}/{day}/{y} (US)", f"{m:02d}/{day:02d}/{y} (US)"],
        "numeric-day-first": [f"{day}/{m}/{y} (day first)", f"{day:02d}.{m:02d}.{y} (day first)"],
        "year-first": [f"{y}.{m:02d}.{day:02d}", f"{y}/{m:02d}/{day:02d}"],
        "weekday": [
            f"{calendar.day_name[d.weekday()]}, {month} {day}, {y}",
            f"{calendar.day_name[d.weekday()]} {day} {month} {y}",
        ],
    }
    return rng.choice(shapes[family])


DATE_FAMILIES = [
    "month-name",
    "day-month-name",
    "abbrev",
    "ordinal",
    "numeric-us",
    "numeric-day-first",
    "year-first",
    "weekday",
]


def random_date(rng: random.Random) -> dt.date:
    year, month = rng.randint(1950, 2030), rng.randint(1, 12)
    return dt.date(year, month, rng.randint(1, calendar.monthrange(year, month)[1]))


def make_dates(rng: random.Random) -> tuple[list[dict], list[dict]]:
    per_family = {"pool": 10, "tests": 5}
    used: set[dt.date] = set()
    drafts: dict[str, list[dict]] = {"pool": [], "tests": []}
    for split, count in per_family.items():
        for family in DATE_FAMILIES:
            for _ in range(count):
                d = random_date(rng)
                # Every date is unique across pool and tests; "May" has no abbreviation.
                while d in used or (family == "abbrev" and d.month == 5):
                    d = random_date(rng)
                used.add(d)
                drafts[split].append(
                    {"input": fmt_date(d, family, rng), "expected": d.isoformat(), "label": family}
                )
    # Leakage bait: a few test items become verbatim copies of pool items of the same family.
    for family in rng.sample(DATE_FAMILIES, DATE_OVERLAP):
        source = rng.choice([r for r in drafts["pool"] if r["label"] == family])
        target = next(r for r in drafts["tests"] if r["label"] == family)
        target.update(input=source["input"], expected=source["expected"])
    pool = with_ids(shuffled(drafts["pool"], rng), "d")
    tests = with_ids(shuffled(drafts["tests"], rng), "dt")
    return pool, tests


# ----------------------------------------------------------------------- sentiment

# fmt: off
PRODUCTS = ["blender", "phone case", "backpack", "desk lamp", "coffee grinder", "keyboard",
            "water bottle", "phone charger", "tent", "vacuum cleaner", "kettle",
            "wireless mouse", "travel mug", "yoga mat", "frying pan", "webcam", "rain jacket",
            "printer", "speaker", "hair dryer", "suitcase", "toaster", "monitor", "drill"]

REVIEWS = {
    "positive": [
        "Love this {p}, works perfectly.", "The {p} arrived early and works great.",
        "Best {p} I have ever owned.", "Excellent quality, I would buy this {p} again.",
        "Really happy with this {p}. Sturdy and easy to use.",
        "Five stars. The {p} does exactly what I wanted.",
        "Great value for the price, highly recommend.",
        "My kids love it and it still looks new after months.",
        "Fantastic {p}! Setup took two minutes.", "Works like a charm, very pleased.",
        "Super comfortable and well made.", "The battery lasts for days. Impressive.",
        "Exceeded my expectations in every way.", "Quiet, fast and beautifully designed.",
        "Perfect gift, my mother was delighted.", "Solid build, great customer service too.",
        "I use this {p} every day and it never lets me down.", "Brilliant, worth every penny.",
        "So much better than my old {p}.", "Easy to clean and looks great on the counter.",
        "Arrived well packed and works flawlessly.",
        "Absolutely love it, buying one for my sister.", "Top quality {p}, no complaints at all.",
        "The sound is crisp and clear. Very happy.",
        "Lightweight, strong and the color is lovely.",
        "This {p} made my mornings so much easier.", "Great product, fast shipping, thank you!",
        "Still working perfectly after a year of heavy use.", "Wonderful {p}, I'm impressed.",
        "Keeps everything organized and looks sharp.",
        'The "quick start" guide was clear and it works perfectly.',
        "A delight to use, highly recommended.",
    ],
    "negative": [
        "Broke after two days. Waste of money.", "The {p} stopped working within a week.",
        "Terrible quality, returning it.", "Arrived damaged and customer service never replied.",
        "Do not buy this {p}. It overheats constantly.",
        "Cheap plastic, feels like it will snap.", "Worst {p} I have ever bought.",
        "The battery dies in an hour. Very disappointed.", "Way too loud and the lid leaks.",
        "Nothing like the pictures, total rip-off.", "It stopped charging after a month. Avoid.",
        "Missing parts and the instructions are useless.",
        "Uncomfortable and the stitching came apart.",
        "Returned it, the {p} was dead on arrival.", "Smells awful and the paint is peeling.",
        "Flimsy, overpriced and slow.", "The {p} rattles and makes a horrible noise.",
        "One star. It broke the first time I used it.", "Complete junk, I regret buying it.",
        "Keeps disconnecting, incredibly frustrating.", "The handle fell off after three uses.",
        "Poorly made and far too small.", "Awful experience, the {p} never worked properly.",
        "Scratches easily and looks cheap.", "Stopped working right after the warranty ended.",
        'The {p} is useless, the "easy setup" label is a lie.',
        "Very disappointed, it leaks everywhere.", "Horrible {p}, the buttons stick.",
        "Took forever to arrive and was broken.", "Not worth the money at all.",
        "It burned out on the second day. Dangerous.", "The zipper broke immediately. Never again.",
    ],
    "neutral": [
        "It's okay. Does the job, nothing special.", "The {p} is average for the price.",
        "Arrived on Tuesday. Haven't tried it yet.", "Works as described, no more, no less.",
        "Some good points and some bad points.",
        "It's fine. The color is a bit darker than in the photo.", "Average quality. It works.",
        "Bought this {p} as a replacement. It is similar to the old one.",
        "It is a {p}. It does what a {p} does.", "Not great, not terrible.",
        "Decent, but I have seen better.", "The {p} comes in a plain box with a manual.",
        "An ordinary {p}, nothing to complain about, nothing to praise.",
        "Ordered the blue one, got the blue one.", "Still testing it, too early to say.",
        "Standard size, standard features.",
        "Mixed feelings: the design is nice but setup was slow.",
        "It works, although the cable is a little short.",
        "Does what it should. I have no strong opinion.", "A middle of the road {p}.",
        "Delivered in three days. Looks like the pictures.",
        "It's acceptable for occasional use.", "Neither better nor worse than other brands.",
        "The {p} is okay. Some features are useful, some are not.",
        "Fine for the price, I suppose.", "Nothing remarkable about this {p}.",
        "It meets the basic requirements.", "Same as the one I had before.",
        "Haven't decided yet if I like it.", "It's a normal {p}. Works as expected.",
        "Packaging was plain. The {p} is as described.", "Good size but average sound.",
    ],
}
# fmt: on


def make_sentiment(rng: random.Random) -> tuple[list[dict], list[dict]]:
    pool: list[dict] = []
    tests: list[dict] = []
    for label, templates in REVIEWS.items():
        # Each template is used once, so pool and test texts never coincide.
        picked = rng.sample(templates, 32)
        # Reviews containing double quotes go to the pool, to exercise CSV quoting.
        picked.sort(key=lambda t: '"' not in t)
        texts = [t.format(p=rng.choice(PRODUCTS)) for t in picked]
        pool += [{"input": t, "expected": label, "label": label} for t in texts[:20]]
        tests += [{"input": t, "expected": label, "label": label} for t in texts[20:]]
    return with_ids(shuffled(pool, rng), "s"), with_ids(shuffled(tests, rng), "st")


# -------------------------------------------------------------------------- people

# fmt: off
NAMES = [
    "Maria Lopez", "Kenji Tanaka", "Amara Okafor", "Lars Johansson", "Priya Sharma",
    "Mohammed Al-Farsi", "Chen Wei", "Olga Petrova", "Santiago Herrera", "Aisha Bello",
    "Liam O'Connor", "Fatima Zahra", "Hiroshi Nakamura", "Ingrid Larsen", "Kwame Mensah",
    "Sofia Rossi", "Mateo García", "Yuki Sato", "Anja Novak", "Diego Fernández",
    "Leila Haddad", "Tomasz Kowalski", "Nguyen Thi Lan", "Arjun Patel", "Emma Dubois",
    "Jonas Müller", "Zanele Dlamini", "Rafael Souza", "Mei Lin", "Hannah Schmidt",
    "Omar Khalil", "Camila Torres", "Ravi Iyer", "Elif Yilmaz", "Sven Eriksson",
    "Nadia Benali", "Kofi Asante", "Isabella Costa", "Dmitri Volkov", "Ji-woo Park",
    "Carlos Mendoza", "Ayesha Siddiqui", "Noah Williams", "Chloé Martin", "Bogdan Ionescu",
    "Tala Mahmoud", "Luca Bianchi", "Zainab Yusuf", "Mikael Virtanen", "Ana Pereira",
    "Hamid Rahimi", "Grace Kim", "Pedro Alves", "Keiko Yamamoto", "Ewa Nowak",
    "Thabo Mokoena", "Siobhan Murphy", "Rohan Mehta", "Lucía Romero", "Femi Adeyemi",
    "Yara Nassar", "Oskar Lindqvist", "Daniela Vargas", "Samir Haddad", "Hana Novotná",
    "Jamal Robinson", "Mariam Aziz", "Erik Hansen", "Valentina Ruiz", "Kaito Suzuki",
    "Nia Thompson", "Arash Karimi", "Beatriz Lima", "Stefan Popescu", "Malia Fonoti",
    "Wanjiru Kamau", "Felix Wagner", "Anh Tran", "Sara Cohen", "Ibrahim Diallo",
    "Mirela Horvat", "Andrés Castillo", "Ngozi Eze", "Pablo Navarro", "Rina Takahashi",
    "Gustavo Ramos", "Ayla Demir", "Tobias Becker", "Marisol Vega", "Kiran Rao",
    "Eleni Papadopoulos", "Daniel Levi", "Chioma Obi", "Soo-ah Choi", "Fernando Silva",
    "Amina Juma", "Henrik Berg", "Paola Greco", "Rashid Khan", "Aroha Ngata",
]

CITIES = [
    "Lisbon", "Osaka", "Lagos", "Stockholm", "Mumbai", "Muscat", "Chengdu", "Kazan", "Bogotá",
    "Abuja", "Dublin", "Casablanca", "Sapporo", "Bergen", "Accra", "Turin", "Seville", "Kyoto",
    "Ljubljana", "Valencia", "Beirut", "Kraków", "Hanoi", "Ahmedabad", "Lyon", "Munich",
    "Durban", "Recife", "Taipei", "Hamburg", "Cairo", "Medellín", "Chennai", "Izmir",
    "Gothenburg", "Tunis", "Porto", "Busan", "Guadalajara", "Karachi", "Toronto", "Marseille",
    "Amman", "Florence", "Helsinki", "Curitiba", "Seattle", "Nagoya", "Gdańsk", "Cork",
    "Pune", "Nairobi", "Zagreb", "Manila", "Denver", "Auckland", "Buenos Aires",
    "Mexico City", "Tel Aviv", "São Paulo", "Cape Town", "Kuala Lumpur", "New York",
    "Cluj-Napoca",
]
# fmt: on

# Each sentence names exactly one person, one age and one city.
SENTENCES = [
    "{name}, {age}, moved to {city} last year.",
    "{name} is {a} {age}-year-old nurse living in {city}.",
    "At {age}, {name} opened a small bakery in {city}.",
    "{name} ({age}) works as a software engineer in {city}.",
    "Meet {name}: {age} years old and based in {city}.",
    "{city} resident {name}, aged {age}, volunteers at the local library.",
    "{name} turned {age} this spring and still lives in {city}.",
    "Now {age}, {name} teaches chemistry at a high school in {city}.",
    "{name}, {a} {age}-year-old photographer, has lived in {city} for a decade.",
    "The {age}-year-old cyclist {name} trains every morning in {city}.",
    "{name} from {city} is {age} and plays the cello.",
    "Retired pilot {name}, {age}, now grows tomatoes in {city}.",
    "Our new tenant, {name}, is {age} and just arrived from {city}.",
    "{name}, who is {age}, runs a bicycle repair shop in {city}.",
    "In {city}, {age}-year-old {name} founded a chess club.",
    "{name} ({age}, {city}) won the regional poetry prize.",
]


def make_people(rng: random.Random) -> tuple[list[dict], list[dict]]:
    names = rng.sample(NAMES, 90)  # every person appears once across pool and tests
    records = []
    for name in names:
        age, city = rng.randint(18, 89), rng.choice(CITIES)
        article = "an" if age == 18 or 80 <= age <= 89 else "a"
        text = rng.choice(SENTENCES).format(name=name, age=age, city=city, a=article)
        answer = json.dumps({"name": name, "age": age, "city": city}, ensure_ascii=False)
        records.append({"input": text, "name": name, "age": age, "city": city, "expected": answer})
    return with_ids(records[:60], "p"), with_ids(records[60:], "pt")


# ------------------------------------------------------------------------- writing


def shuffled(items: list[dict], rng: random.Random) -> list[dict]:
    items = list(items)
    rng.shuffle(items)
    return items


def with_ids(records: list[dict], prefix: str) -> list[dict]:
    """Put a sequential `id` first in each record: prefix001, prefix002, ..."""
    return [{"id": f"{prefix}{i:03d}", **r} for i, r in enumerate(records, start=1)]


def write_jsonl(path: Path, records: list[dict]) -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_csv(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def yaml_scalar(value: object) -> str:
    # A JSON string is a valid double-quoted YAML scalar; integers stay bare.
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=False)


def write_yaml_list(path: Path, records: list[dict], header: str) -> None:
    lines = [f"# {header}"]
    for r in records:
        for i, (key, value) in enumerate(r.items()):
            lines.append(f"{'- ' if i == 0 else '  '}{key}: {yaml_scalar(value)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def check_unique(name: str, records: list[dict]) -> None:
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), f"duplicate ids in {name}"


def main() -> None:
    assert len(set(NAMES)) == len(NAMES) and len(set(CITIES)) == len(CITIES)
    rng = random.Random(SEED)
    date_pool, date_tests = make_dates(rng)
    sent_pool, sent_tests = make_sentiment(rng)
    people_pool, people_tests = make_people(rng)

    for name, records in [
        ("date_pool", date_pool),
        ("date_tests", date_tests),
        ("sentiment_pool", sent_pool),
        ("sentiment_tests", sent_tests),
        ("people_pool", people_pool),
        ("people_tests", people_tests),
    ]:
        check_unique(name, records)
    assert len({r["input"] for r in date_pool}) == len(date_pool)
    overlap = {r["input"] for r in date_pool} & {r["input"] for r in date_tests}
    assert len(overlap) == DATE_OVERLAP, overlap

    write_jsonl(HERE / "date_pool.jsonl", date_pool)
    write_jsonl(HERE / "date_tests.jsonl", date_tests)
    write_csv(HERE / "sentiment_pool.csv", sent_pool)
    write_jsonl(HERE / "sentiment_tests.jsonl", sent_tests)
    write_yaml_list(
        HERE / "people_pool.yaml",
        people_pool,
        "Generated by experiments/data/generate.py - do not edit by hand.",
    )
    write_jsonl(HERE / "people_tests.jsonl", people_tests)
    print(f"wrote 6 files to {HERE}; date test inputs also in the pool: {sorted(overlap)}")


if __name__ == "__main__":
    main()
