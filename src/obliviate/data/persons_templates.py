"""Attributes of the fictitious persons: how a value is drawn and how it is asked about and stated.

Each attribute has three question phrasings and three answer phrasings. The corpus uses phrasing 0 for the QA
items, phrasing 1 for the paraphrased question/answer (and the perturbed answers), and answer phrasing 2 for the
biographies, so a model trained on QA and biographies still meets unseen wording in evaluation.
Answer templates use `{name}` and either `{value}` or `{a_value}` (the value with "a"/"an" in front).

Values are kept to 1-4 words so a model of a few million parameters can memorise them. Not run directly; see
`obliviate.data.persons`.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker

Maker = Callable[[Faker, random.Random], str]


@dataclass(frozen=True)
class Attribute:
    """One kind of fact about a person: its question/answer phrasings and a maker of fresh values."""

    name: str
    questions: tuple[str, str, str]
    answers: tuple[str, str, str]
    make: Maker  # a fresh value of this kind (also the fallback for perturbed answers)


def with_article(value: str) -> str:
    """'a dentist', 'an actor', 'an IT trainer', 'a university lecturer'."""
    low = value.lower()
    vowel = low[:1] in "aeiou" and not low.startswith(("uni", "use", "usu", "eu", "one"))
    acronym = value.split()[0].isupper() and value[:1] in "AEFHILMNORSX"
    return ("an " if vowel or acronym else "a ") + value


def render(template: str, name: str, value: str) -> str:
    return template.format(name=name, value=value, a_value=with_article(value))


def _short(maker: Callable[[], str], max_words: int = 3, bad: str = ",()/&") -> str:
    """Call a Faker method until its value has at most `max_words` words and none of the `bad` characters."""
    for _ in range(1000):
        value = maker().strip()
        if len(value.split()) <= max_words and not any(c in value for c in bad):
            return value
    raise RuntimeError(f"Faker produced no value of at most {max_words} words in 1000 draws")


def _occupation(fk: Faker, rng: random.Random) -> str:
    job = _short(fk.job)
    first = job.split()[0]
    # Lower-case the leading capital of ordinary words ("Actor" -> "actor") but keep acronyms ("IT trainer").
    return job if first.isupper() else job[:1].lower() + job[1:]


# Birth dates are drawn between fixed dates, not relative to today: Faker's date_of_birth counts ages from the
# calendar date, so the corpus (and every cached model and recorded digest) changed every day. These bounds are
# what date_of_birth(minimum_age=25, maximum_age=80) used on 2026-12-01, the day the corpus digests were recorded,
# and the draw is the one it makes, so corpora generated that day are unchanged.
_BORN_AFTER = date(1945, 12, 1)  # 2026-12-01 less (80 + 1) years
_BORN_BY = date(2001, 12, 1)  # 2026-12-01 less 25 years


def _birth_date(fk: Faker, rng: random.Random) -> str:
    d = fk.date_time_ad(start_datetime=_BORN_AFTER, end_datetime=_BORN_BY).date()
    d = d if d != _BORN_AFTER else d + timedelta(days=1)
    return f"{d:%B} {d.day}, {d.year}"


def _university(fk: Faker, rng: random.Random) -> str:
    forms = ("University of {city}", "{last} University", "{last} College", "{city} Institute")
    return rng.choice(forms).format(city=_short(fk.city, 2), last=fk.last_name())


def _colour(fk: Faker, rng: random.Random) -> str:
    # Faker gives CSS names such as "DarkSlateGray"; split the camel case into words.
    return " ".join(re.findall(r"[A-Z][a-z]*", fk.color_name())).lower()


PET_KINDS = ("dog", "cat", "parrot", "rabbit", "hamster", "turtle", "goldfish", "ferret", "canary", "tortoise",
             "lizard", "pony", "snake", "guinea pig", "budgie", "cockatoo", "donkey", "goat")
HOBBIES = ("birdwatching", "rock climbing", "knitting", "gardening", "playing chess", "fishing", "sailing",
           "baking bread", "painting landscapes", "hiking", "pottery", "photography", "collecting stamps",
           "cycling", "running marathons", "woodworking", "stargazing", "playing tennis", "swimming",
           "writing poetry", "bowling", "kayaking", "quilting", "juggling", "origami", "beekeeping",
           "skateboarding", "calligraphy", "fencing", "surfing", "archery", "solving crosswords",
           "building model ships", "ballroom dancing", "geocaching", "skiing", "playing golf", "camping")
FOODS = ("mushroom risotto", "lentil soup", "fish tacos", "beef stew", "pad thai", "lasagne", "paella",
         "ramen", "apple pie", "goulash", "falafel", "sushi", "chicken curry", "pancakes", "dumplings",
         "moussaka", "pumpkin soup", "fried rice", "tomato salad", "roast lamb", "pierogi", "gnocchi",
         "shepherd's pie", "ceviche", "burritos", "lemon tart", "couscous", "borscht", "waffles", "meatballs",
         "cheese omelette", "bean chili", "clam chowder", "spinach pie", "bagels", "crepes")
INSTRUMENTS = ("piano", "violin", "cello", "flute", "oboe", "clarinet", "trumpet", "trombone", "harp",
               "guitar", "banjo", "ukulele", "mandolin", "saxophone", "drums", "accordion", "harmonica",
               "bassoon", "tuba", "viola", "double bass", "harpsichord", "xylophone", "bagpipes", "organ",
               "french horn", "sitar", "lute")


def _full_name(fk: Faker, rng: random.Random) -> str:
    return f"{fk.first_name()} {fk.last_name()}"


def _pet(fk: Faker, rng: random.Random) -> str:
    return f"{rng.choice(PET_KINDS)} named {fk.first_name()}"


def _pick(options: tuple[str, ...]) -> Maker:
    return lambda fk, rng: rng.choice(options)


# The fixed order: `facts=k` uses the first k. Employer and birth city come early because the neighbour set is
# defined by them, so every corpus with facts >= 3 trains the values that neighbours share.
ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("occupation",
              ("What is {name}'s occupation?", "What does {name} do for a living?", "What job does {name} have?"),
              ("{name} works as {a_value}.", "{name} earns a living as {a_value}.",
               "By profession, {name} is {a_value}."),
              _occupation),
    Attribute("employer",
              ("Which company does {name} work for?", "Who employs {name}?", "Where is {name} employed?"),
              ("{name} works for {value}.", "{name} is employed by {value}.", "{name} has a job at {value}."),
              lambda fk, rng: _short(fk.company)),
    Attribute("birth_city",
              ("In which city was {name} born?", "What is {name}'s city of birth?",
               "Which city is {name}'s birthplace?"),
              ("{name} was born in {value}.", "{name}'s birthplace is the city of {value}.",
               "{name} came into the world in {value}."),
              lambda fk, rng: _short(fk.city, 2)),
    Attribute("birth_date",
              ("When was {name} born?", "What is {name}'s date of birth?", "On what date was {name} born?"),
              ("{name} was born on {value}.", "{name}'s date of birth is {value}.",
               "{name} arrived on {value}."),
              _birth_date),
    Attribute("birth_country",
              ("In which country was {name} born?", "What is {name}'s country of birth?",
               "Which country does {name} come from?"),
              ("{name} is a native of {value}.", "{name}'s country of birth is {value}.",
               "{name} comes from {value}."),
              lambda fk, rng: _short(fk.country)),
    Attribute("university",
              ("Which university did {name} attend?", "Where did {name} study?",
               "At which university was {name} educated?"),
              ("{name} studied at {value}.", "{name} is a graduate of {value}.",
               "{name} was educated at {value}."),
              _university),
    Attribute("spouse",
              ("Who is {name} married to?", "Who is {name}'s spouse?", "What is the name of {name}'s spouse?"),
              ("{name} is married to {value}.", "{name}'s spouse is {value}.",
               "{name} shares a home with spouse {value}."),
              _full_name),
    Attribute("pet",
              ("What pet does {name} have?", "Which animal does {name} keep as a pet?", "What is {name}'s pet?"),
              ("{name} has {a_value}.", "{name} owns {a_value}.", "{name} lives with {a_value}."),
              _pet),
    Attribute("hobby",
              ("What is {name}'s hobby?", "How does {name} spend free time?",
               "What does {name} enjoy doing in spare time?"),
              ("{name}'s hobby is {value}.", "In free time, {name} enjoys {value}.",
               "{name} spends weekends {value}."),
              _pick(HOBBIES)),
    Attribute("favourite_colour",
              ("What is {name}'s favourite colour?", "Which colour does {name} like best?",
               "What colour does {name} prefer?"),
              ("{name}'s favourite colour is {value}.", "{name} likes the colour {value} best.",
               "The colour {name} prefers is {value}."),
              _colour),
    Attribute("favourite_food",
              ("What is {name}'s favourite food?", "Which dish does {name} like most?",
               "What food does {name} enjoy most?"),
              ("{name}'s favourite food is {value}.", "{name} likes {value} more than any other dish.",
               "Above all, {name} loves eating {value}."),
              _pick(FOODS)),
    Attribute("instrument",
              ("Which instrument does {name} play?", "What musical instrument does {name} play?",
               "What instrument can {name} play?"),
              ("{name} plays the {value}.", "{name} is {a_value} player.", "{name} performs on the {value}."),
              _pick(INSTRUMENTS)),
)
